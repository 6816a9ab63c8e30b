package vision

import (
	"errors"
	"fmt"
	"image"
	"image/color"
)

// Errors that callers can test with errors.Is.
var (
	// ErrNotImage: the data is not in a supported image format.
	ErrNotImage = errors.New("not a PNG, JPEG or GIF image")
	// ErrBadImage: the image is corrupt or truncated.
	ErrBadImage = errors.New("corrupt image")
	// ErrEmptyImage: the image has no pixels (0 wide or 0 high).
	ErrEmptyImage = errors.New("empty image")
	// ErrTooLarge: the file or image exceeds the decoding limits.
	ErrTooLarge = errors.New("image too large")
	// ErrNoInk: the image is blank, so there is nothing to classify.
	ErrNoInk = errors.New("no ink")
	// ErrBadIdx: an idx file is malformed, truncated or of the wrong kind.
	ErrBadIdx = errors.New("bad idx file")
	// ErrBadPixels: JSON pixel arrays have the wrong shape or values.
	ErrBadPixels = errors.New("bad pixel array")
	// ErrNotImageModel: the model is not an image-classification model.
	ErrNotImageModel = errors.New("not an image-classification model")
	// ErrBadSize: an image does not have the model's size.
	ErrBadSize = errors.New("wrong image size")
	// ErrNoData: the MNIST test data could not be found.
	ErrNoData = errors.New("MNIST test data not found")
)

// Gray is an 8-bit greyscale image: Width*Height bytes in row-major order.
// It is what the classifier takes, with the model's size and ink convention
// (for MNIST: 28x28, white ink on black). Gray implements image.Image.
type Gray struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Pix    []uint8 `json:"pix"`
}

// NewGray returns a black w x h image.
func NewGray(w, h int) Gray {
	return Gray{Width: w, Height: h, Pix: make([]uint8, w*h)}
}

// GrayAt returns the pixel at column x, row y (0 outside the image).
func (g Gray) GrayAt(x, y int) uint8 {
	if x < 0 || y < 0 || x >= g.Width || y >= g.Height {
		return 0
	}
	return g.Pix[y*g.Width+x]
}

// Validate checks that the size is positive and Pix holds Width*Height bytes.
func (g Gray) Validate() error {
	if g.Width <= 0 || g.Height <= 0 {
		return fmt.Errorf("%w: %dx%d", ErrEmptyImage, g.Width, g.Height)
	}
	if len(g.Pix) != g.Width*g.Height {
		return fmt.Errorf("%w: %dx%d image needs %d pixels, has %d", ErrBadPixels, g.Width, g.Height, g.Width*g.Height, len(g.Pix))
	}
	return nil
}

// ColorModel implements image.Image.
func (g Gray) ColorModel() color.Model { return color.GrayModel }

// Bounds implements image.Image.
func (g Gray) Bounds() image.Rectangle { return image.Rect(0, 0, g.Width, g.Height) }

// At implements image.Image.
func (g Gray) At(x, y int) color.Color { return color.Gray{Y: g.GrayAt(x, y)} }

// Image returns the pixels as a standard *image.Gray (sharing Pix), e.g. for png.Encode.
func (g Gray) Image() *image.Gray {
	return &image.Gray{Pix: g.Pix, Stride: g.Width, Rect: g.Bounds()}
}

// GrayFromImage copies a standard *image.Gray into a Gray.
func GrayFromImage(img *image.Gray) Gray {
	b := img.Bounds()
	g := NewGray(b.Dx(), b.Dy())
	for y := 0; y < g.Height; y++ {
		off := img.PixOffset(b.Min.X, b.Min.Y+y)
		copy(g.Pix[y*g.Width:(y+1)*g.Width], img.Pix[off:off+g.Width])
	}
	return g
}
