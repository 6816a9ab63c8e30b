package vision

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
)

func putBE32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	putBE32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	putBE32(n[:], crc.Sum32())
	b.Write(n[:])
}

// ascii draws an image with one character per pixel, for failure messages.
func ascii(g Gray) string {
	var sb strings.Builder
	for y := 0; y < g.Height; y++ {
		for x := 0; x < g.Width; x++ {
			sb.WriteByte(" .:-=+*#%@"[int(g.Pix[y*g.Width+x])*10/256])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
