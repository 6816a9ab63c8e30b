package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // registers GIF with image.Decode
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"os"
	"strings"
)

// Decoding limits.
const (
	// DefaultMaxPixels is the largest image DecodeFile decodes: 4096x4096
	// pixels (16,777,216). A full decode holds up to 8 bytes per pixel
	// (16-bit RGBA), so the limit keeps one image under about 128 MiB.
	DefaultMaxPixels = 4096 * 4096
	// DefaultMaxBytes is the largest image file DecodeFile reads: 64 MiB.
	DefaultMaxBytes = 64 << 20
)

// DecodeOptions set the decoding limits; zero values mean the defaults.
type DecodeOptions struct {
	MaxPixels int   // largest width*height; 0 means DefaultMaxPixels
	MaxBytes  int64 // largest file size; 0 means DefaultMaxBytes
}

func (o DecodeOptions) withDefaults() DecodeOptions {
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return o
}

// DecodeFile reads a PNG, JPEG or GIF file (a GIF's first frame). Errors name
// the file; the size limits are checked from the header before decoding.
func DecodeFile(path string, opts DecodeOptions) (image.Image, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err // *PathError names the file
	}
	defer f.Close()
	img, format, err := Decode(f, opts)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return img, format, nil
}

// Decode reads a PNG, JPEG or GIF image from r within the limits of opts and
// returns it with its format name ("png", "jpeg", "gif").
func Decode(r io.Reader, opts DecodeOptions) (image.Image, string, error) {
	o := opts.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, o.MaxBytes+1))
	if err != nil {
		return nil, "", err
	}
	if int64(len(data)) > o.MaxBytes {
		return nil, "", fmt.Errorf("%w: the file is larger than the limit of %d bytes", ErrTooLarge, o.MaxBytes)
	}
	return DecodeBytes(data, opts)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// DecodeBytes is Decode over a byte slice.
func DecodeBytes(data []byte, opts DecodeOptions) (image.Image, string, error) {
	if _, _, err := Probe(data, opts); err != nil {
		return nil, "", err
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%w: decoding the %s image: %v", ErrBadImage, format, describe(err))
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, "", fmt.Errorf("%w: the %s image is %dx%d", ErrEmptyImage, format, b.Dx(), b.Dy())
	}
	return img, format, nil
}

// Probe reads only the header of a PNG, JPEG or GIF image and checks it
// against the limits of opts, without decoding the pixels.
func Probe(data []byte, opts DecodeOptions) (image.Config, string, error) {
	o := opts.withDefaults()
	if len(data) == 0 {
		return image.Config{}, "", fmt.Errorf("%w: the file is empty", ErrNotImage)
	}
	// image/png reports a 0x0 header as a generic format error; say what it is.
	if len(data) >= 24 && bytes.HasPrefix(data, pngSignature) && string(data[12:16]) == "IHDR" {
		w, h := binary.BigEndian.Uint32(data[16:20]), binary.BigEndian.Uint32(data[20:24])
		if w == 0 || h == 0 {
			return image.Config{}, "", fmt.Errorf("%w: the PNG header says %dx%d", ErrEmptyImage, w, h)
		}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return image.Config{}, "", ErrNotImage
		}
		return image.Config{}, "", fmt.Errorf("%w: reading the %s header: %v", ErrBadImage, sniff(data), describe(err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, format, fmt.Errorf("%w: the %s image is %dx%d", ErrEmptyImage, format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(o.MaxPixels) {
		return cfg, format, fmt.Errorf("%w: the %s image is %dx%d (%d pixels), more than the limit of %d pixels", ErrTooLarge, format, cfg.Width, cfg.Height, px, o.MaxPixels)
	}
	return cfg, format, nil
}

// DecodedBytes estimates the memory that decoding and preprocessing an image
// of cfg holds at its peak: the decoded picture at its color model's bytes
// per pixel and a quarter more for the decoder's buffers (an interlaced
// PNG's passes), or, once it is grey, two grey copies and the float64 crop
// Preprocess makes (10 bytes per pixel), whichever is larger.
func DecodedBytes(cfg image.Config) int64 {
	bpp := int64(8) // RGBA64 and anything unknown
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		bpp = 4
	}
	if _, ok := cfg.ColorModel.(color.Palette); ok {
		bpp = 1
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	return max(px*bpp+px*bpp/4+px, px*10)
}

// describe makes the decoders' end-of-data errors say what they mean.
func describe(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "the file is truncated (" + msg + ")"
	case strings.Contains(msg, "not enough pixel data") || strings.Contains(msg, "unexpected EOF"):
		return "the file is truncated or corrupt (" + msg + ")"
	}
	return msg
}

// sniff names the format the data claims to be, for error messages.
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, pngSignature):
		return "png"
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("GIF8")):
		return "gif"
	}
	return "image"
}
