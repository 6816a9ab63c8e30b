package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"reflect"
	"testing"
)

// FuzzDecodeJSON: the typed fast path and the generic path read the same
// pixels from any body the fast path takes; neither panics.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`[1,2,3,4]`, `[[0,255],[3,4]]`, `[[[1,2],[3,4]],[[5,6],[7,8]]]`, `[[1,2],[3]]`, `[300]`, `[1.5]`, `[null]`, `[]`, `[[]]`, ` [ 1e2 , 2 , 3 , 4 ] `, `[1,2,3,4] x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, fastErr := DecodeJSON(data, 2, 2)
		slow, slowErr := decodeGeneric(data, 2, 2)
		if (fastErr == nil) != (slowErr == nil) {
			t.Fatalf("%q: DecodeJSON error %v, generic %v", data, fastErr, slowErr)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: DecodeJSON %v, generic %v", data, fast, slow)
		}
		for _, g := range fast {
			if len(g.Pix) != g.Width*g.Height {
				t.Fatalf("%q: %dx%d image of %d pixels", data, g.Width, g.Height, len(g.Pix))
			}
		}
	})
}

// FuzzDecodeAndPreprocess: any bytes decode within the limits or fail with
// an error, and what decodes preprocesses or fails, never panics; the
// header's size is the decoded size.
func FuzzDecodeAndPreprocess(f *testing.F) {
	img := image.NewGray(image.Rect(0, 0, 12, 9))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	f.Add(buf.Bytes())
	pal := image.NewPaletted(image.Rect(0, 0, 3, 3), color.Palette{color.Black, color.White})
	pal.Pix[4] = 1
	buf.Reset()
	png.Encode(&buf, pal)
	f.Add(buf.Bytes())
	f.Add([]byte("GIF89a\x01\x00\x01\x00"))
	f.Add([]byte("\xff\xd8\xff"))
	opts := DecodeOptions{MaxPixels: 1 << 16, MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, perr := Probe(data, opts)
		img, _, err := DecodeBytes(data, opts)
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("decoded although the header was refused: %v", perr)
		}
		b := img.Bounds()
		if b.Dx()*b.Dy() > opts.MaxPixels || b.Dx() != cfg.Width || b.Dy() != cfg.Height {
			t.Fatalf("decoded %v from a %dx%d header (limit %d pixels)", b, cfg.Width, cfg.Height, opts.MaxPixels)
		}
		if DecodedBytes(cfg) < int64(b.Dx()*b.Dy()) {
			t.Fatalf("estimate %d bytes for %v", DecodedBytes(cfg), b)
		}
		g, err := Preprocess(img, PreprocessOptions{})
		if err == nil && g.Validate() != nil {
			t.Fatalf("preprocessed image invalid: %v", g.Validate())
		}
	})
}
