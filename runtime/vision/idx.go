package vision

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Magic numbers of the idx files MNIST ships: 0x00 0x00, type 0x08 (unsigned
// bytes), then the number of dimensions.
const (
	IdxImagesMagic = 0x00000803 // 2051: unsigned bytes, 3 dimensions [n, rows, cols]
	IdxLabelsMagic = 0x00000801 // 2049: unsigned bytes, 1 dimension [n]
)

// maxIdxBytes bounds the data an idx header may announce (1 GiB), so a corrupt
// header cannot make the reader allocate without limit.
const maxIdxBytes = 1 << 30

// Idx is the content of an idx file of unsigned bytes.
type Idx struct {
	Magic uint32
	Dims  []int
	Data  []uint8 // row-major
}

// IsIdx reports whether data (the first bytes of a file, gzip-compressed or
// not) starts like an idx file of unsigned bytes.
func IsIdx(head []byte) bool {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return false
		}
		var m [4]byte
		if _, err := io.ReadFull(zr, m[:]); err != nil {
			return false
		}
		head = m[:]
	}
	return len(head) >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 && head[3] <= 4
}

// ReadIdxFile reads an idx file of unsigned bytes, gzip-compressed or plain.
// Errors name the file.
func ReadIdxFile(path string) (*Idx, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, err := ReadIdx(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// ReadIdx reads an idx file of unsigned bytes from r, gzip-compressed or plain:
// a big-endian magic number (0, 0, 0x08, ndim), ndim big-endian uint32 sizes,
// then exactly as many bytes as the sizes multiply to.
func ReadIdx(r io.Reader) (*Idx, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip header: %v", ErrBadIdx, err)
		}
		defer zr.Close()
		return readIdx(zr, true)
	}
	return readIdx(br, false)
}

func readIdx(r io.Reader, gz bool) (*Idx, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		if n == 0 && !gz && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrBadIdx)
		}
		return nil, fmt.Errorf("%w: truncated before the end of the magic number (%s)", ErrBadIdx, readErr(err, gz))
	}
	m := binary.BigEndian.Uint32(magic[:])
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("%w: wrong magic number 0x%08x, not an idx file", ErrBadIdx, m)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("%w: magic number 0x%08x declares element type 0x%02x; only unsigned bytes (0x08) are supported", ErrBadIdx, m, magic[2])
	}
	ndim := int(magic[3])
	if ndim == 0 {
		return nil, fmt.Errorf("%w: magic number 0x%08x declares 0 dimensions", ErrBadIdx, m)
	}
	header := make([]byte, 4*ndim)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("%w: truncated in the header of %d dimension sizes (%s)", ErrBadIdx, ndim, readErr(err, gz))
	}
	dims := make([]int, ndim)
	want := int64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(header[4*i:]))
		want *= int64(dims[i])
		if want > maxIdxBytes {
			return nil, fmt.Errorf("%w: the header announces more than %d bytes of data (sizes %v)", ErrBadIdx, maxIdxBytes, dims[:i+1])
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, want+1))
	if err != nil {
		return nil, fmt.Errorf("%w: truncated: header %v needs %d bytes of data, read %d before %s", ErrBadIdx, dims, want, len(data), readErr(err, gz))
	}
	if int64(len(data)) < want {
		return nil, fmt.Errorf("%w: truncated: header %v needs %d bytes of data, the file has %d", ErrBadIdx, dims, want, len(data))
	}
	if int64(len(data)) > want {
		return nil, fmt.Errorf("%w: trailing bytes after the %d bytes of data the header %v announces", ErrBadIdx, want, dims)
	}
	return &Idx{Magic: m, Dims: dims, Data: data}, nil
}

func readErr(err error, gz bool) string {
	if gz && errors.Is(err, io.ErrUnexpectedEOF) {
		return "the gzip stream ends early"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "end of file"
	}
	return err.Error()
}

// ReadIdxImages reads an idx images file (magic 2051, [n, rows, cols]).
func ReadIdxImages(path string) ([]Gray, error) {
	idx, err := ReadIdxFile(path)
	if err != nil {
		return nil, err
	}
	return idx.Images(path)
}

// Images splits an idx images file (magic 2051) into images; name is for errors.
func (idx *Idx) Images(name string) ([]Gray, error) {
	if idx.Magic != IdxImagesMagic {
		return nil, fmt.Errorf("%s: %w: wrong magic number %d (0x%08x)%s, want %d (0x%08x, images)", name, ErrBadIdx, idx.Magic, idx.Magic, idxKind(idx.Magic), IdxImagesMagic, IdxImagesMagic)
	}
	n, h, w := idx.Dims[0], idx.Dims[1], idx.Dims[2]
	if n > 0 && (h == 0 || w == 0) {
		return nil, fmt.Errorf("%s: %w: images of %dx%d pixels", name, ErrBadIdx, w, h)
	}
	imgs := make([]Gray, n)
	for i := range imgs {
		imgs[i] = Gray{Width: w, Height: h, Pix: idx.Data[i*w*h : (i+1)*w*h : (i+1)*w*h]}
	}
	return imgs, nil
}

// ReadIdxLabels reads an idx labels file (magic 2049, [n]).
func ReadIdxLabels(path string) ([]uint8, error) {
	idx, err := ReadIdxFile(path)
	if err != nil {
		return nil, err
	}
	if idx.Magic != IdxLabelsMagic {
		return nil, fmt.Errorf("%s: %w: wrong magic number %d (0x%08x)%s, want %d (0x%08x, labels)", path, ErrBadIdx, idx.Magic, idx.Magic, idxKind(idx.Magic), IdxLabelsMagic, IdxLabelsMagic)
	}
	return idx.Data, nil
}

func idxKind(m uint32) string {
	switch m {
	case IdxImagesMagic:
		return " (an images file)"
	case IdxLabelsMagic:
		return " (a labels file)"
	}
	return ""
}
