package vision

import (
	"fmt"
	"image"
	"math"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Ink conventions a model's metadata can declare (key "ink").
const (
	InkLightOnDark = "light-on-dark"
	InkDarkOnLight = "dark-on-light"
)

// Preprocessing constants; the steps are described in the package documentation.
const (
	// MNISTSize is the side of an MNIST image.
	MNISTSize = 28
	// MNISTBox is the side of the box MNIST's digits were scaled to fit.
	MNISTBox = 20
	// MinContrast is the smallest difference, in grey levels, between the
	// background and the brightest ink for an image not to count as blank.
	MinContrast = 24
	// inkFloor is the fraction of the ink's contrast below which a pixel is
	// background (step 3).
	inkFloor = 0.1
)

// PreprocessOptions set the output of Preprocess. The zero value makes MNIST images.
type PreprocessOptions struct {
	// Width and Height of the output; 0 means 28.
	Width, Height int
	// Box is the side of the square the ink is scaled to fit; 0 means
	// round(min(Width, Height) * 20 / 28), i.e. 20 for 28x28.
	Box int
	// Ink is the output's convention: InkLightOnDark (the default, MNIST's)
	// or InkDarkOnLight.
	Ink string
}

func (o PreprocessOptions) withDefaults() (PreprocessOptions, error) {
	if o.Width == 0 {
		o.Width = MNISTSize
	}
	if o.Height == 0 {
		o.Height = MNISTSize
	}
	if o.Width < 0 || o.Height < 0 {
		return o, fmt.Errorf("preprocess: output size %dx%d is negative", o.Width, o.Height)
	}
	if o.Box == 0 {
		o.Box = int(math.Round(float64(min(o.Width, o.Height)) * MNISTBox / MNISTSize))
	}
	if o.Box < 1 || o.Box > min(o.Width, o.Height) {
		return o, fmt.Errorf("preprocess: box %d does not fit the %dx%d output", o.Box, o.Width, o.Height)
	}
	switch o.Ink {
	case "":
		o.Ink = InkLightOnDark
	case InkLightOnDark, InkDarkOnLight:
	default:
		return o, fmt.Errorf("preprocess: unknown ink %q (want %q or %q)", o.Ink, InkLightOnDark, InkDarkOnLight)
	}
	return o, nil
}

// PreprocessOptionsFor returns the options that prepare images for a model
// with this metadata: its image size (28x28 when unset) and ink.
func PreprocessOptionsFor(meta model.Metadata) PreprocessOptions {
	return PreprocessOptions{Width: meta.ImageWidth, Height: meta.ImageHeight, Ink: meta.Ink}
}

// Preprocess turns a picture of a digit into an MNIST-like image: grey, light
// ink on black, cropped to the ink, scaled to fit the box, centred by centre of
// mass (the steps are in the package documentation). A blank image is ErrNoInk,
// an image without pixels ErrEmptyImage.
func Preprocess(img image.Image, opts PreprocessOptions) (Gray, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Gray{}, err
	}
	if img == nil {
		return Gray{}, fmt.Errorf("%w: nil image", ErrEmptyImage)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return Gray{}, fmt.Errorf("%w: %dx%d", ErrEmptyImage, b.Dx(), b.Dy())
	}
	// 1. Grey.
	g := toGray(img)
	// 2. Polarity.
	bg := borderMedian(g)
	if bg > 127 {
		for i, p := range g.Pix {
			g.Pix[i] = 255 - p
		}
		bg = 255 - bg
	}
	// 3. Levels.
	peak := uint8(0)
	for _, p := range g.Pix {
		peak = max(peak, p)
	}
	if int(peak)-int(bg) < MinContrast {
		return Gray{}, fmt.Errorf("%w: the image is blank (ink and background differ by %d grey levels, need %d)", ErrNoInk, max(0, int(peak)-int(bg)), MinContrast)
	}
	lo := float64(bg)
	span := float64(peak) - lo
	level := func(p uint8) float64 {
		v := (float64(p) - lo) / span
		return max(0, (v-inkFloor)/(1-inkFloor))
	}
	var lut [256]float64
	for p := range lut {
		lut[p] = level(uint8(p))
	}
	// 4. Crop to the ink's bounding box.
	x0, y0, x1, y1 := g.Width, g.Height, -1, -1
	for y := 0; y < g.Height; y++ {
		row := g.Pix[y*g.Width : (y+1)*g.Width]
		for x, p := range row {
			if lut[p] > 0 {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return Gray{}, fmt.Errorf("%w: the image is blank", ErrNoInk)
	}
	bw, bh := x1-x0+1, y1-y0+1
	crop := make([]float64, bw*bh)
	for y := 0; y < bh; y++ {
		row := g.Pix[(y0+y)*g.Width+x0:]
		for x := 0; x < bw; x++ {
			crop[y*bw+x] = lut[row[x]]
		}
	}
	// 5. Scale to fit the box, keeping the aspect ratio.
	s := float64(o.Box) / float64(max(bw, bh))
	ow := min(o.Box, max(1, int(math.Round(float64(bw)*s))))
	oh := min(o.Box, max(1, int(math.Round(float64(bh)*s))))
	scaled := resize(crop, bw, bh, ow, oh)
	// Re-stretch so the brightest scaled pixel is full ink, as in MNIST's images.
	top := 0.0
	for _, v := range scaled {
		top = max(top, v)
	}
	if top > 0 {
		for i := range scaled {
			scaled[i] /= top
		}
	}
	// 6. Centre by centre of mass.
	var mass, mx, my float64
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			v := scaled[y*ow+x]
			mass += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
		}
	}
	ox, oy := (o.Width-ow)/2, (o.Height-oh)/2
	if mass > 0 {
		ox = clampInt(int(math.Round(float64(o.Width)/2-mx/mass)), 0, o.Width-ow)
		oy = clampInt(int(math.Round(float64(o.Height)/2-my/mass)), 0, o.Height-oh)
	}
	// 7. Quantise (and invert for a dark-on-light model).
	out := NewGray(o.Width, o.Height)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			v := math.Round(scaled[y*ow+x] * 255)
			out.Pix[(oy+y)*o.Width+ox+x] = uint8(min(255, max(0, v)))
		}
	}
	if o.Ink == InkDarkOnLight {
		for i, p := range out.Pix {
			out.Pix[i] = 255 - p
		}
	}
	return out, nil
}

func clampInt(v, lo, hi int) int { return min(hi, max(lo, v)) }

// ToGray converts any image to 8-bit luma, step 1 of preprocessing alone
// (see the package documentation), keeping its size and polarity.
func ToGray(img image.Image) Gray { return toGray(img) }

func toGray(img image.Image) Gray {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch src := img.(type) {
	case Gray:
		return Gray{Width: w, Height: h, Pix: append([]uint8(nil), src.Pix...)}
	case *image.Gray:
		return GrayFromImage(src)
	case *image.YCbCr:
		g := NewGray(w, h)
		for y := 0; y < h; y++ {
			off := src.YOffset(b.Min.X, b.Min.Y+y)
			copy(g.Pix[y*w:(y+1)*w], src.Y[off:off+w])
		}
		return g
	}
	// Generic path: premultiplied 16-bit RGBA per pixel.
	g := NewGray(w, h)
	luma := func(r, gr, bl uint32) uint32 { return (19595*r + 38470*gr + 7471*bl + 1<<15) >> 16 }
	opaque := false
	if o, ok := img.(interface{ Opaque() bool }); ok {
		opaque = o.Opaque()
	}
	// Over which background do transparent pixels go? Over white when the
	// visible content is on average dark, over black when it is light.
	var over uint32 = 0xffff
	if !opaque {
		var sumY, sumA float64
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, gr, bl, a := img.At(x, y).RGBA()
				sumY += float64(luma(r, gr, bl))
				sumA += float64(a)
			}
		}
		if sumA > 0 && sumY/sumA > 0.5 {
			over = 0
		}
	}
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, gr, bl, a := img.At(x, y).RGBA()
			v := luma(r, gr, bl) + (0xffff-a)*over/0xffff
			g.Pix[i] = uint8(min(v, 0xffff) >> 8)
			i++
		}
	}
	return g
}

// borderMedian is the median of the outermost ring of pixels (step 2).
// BorderLevel is the background level of an image: the median of its outermost
// ring of pixels (the polarity test of Preprocess's step 2).
func BorderLevel(g Gray) uint8 { return borderMedian(g) }

func borderMedian(g Gray) uint8 {
	var hist [256]int
	n := 0
	add := func(x, y int) { hist[g.Pix[y*g.Width+x]]++; n++ }
	if g.Width <= 2 || g.Height <= 2 {
		for y := 0; y < g.Height; y++ {
			for x := 0; x < g.Width; x++ {
				add(x, y)
			}
		}
	} else {
		for x := 0; x < g.Width; x++ {
			add(x, 0)
			add(x, g.Height-1)
		}
		for y := 1; y < g.Height-1; y++ {
			add(0, y)
			add(g.Width-1, y)
		}
	}
	half := (n + 1) / 2
	for v, c := range hist {
		half -= c
		if half <= 0 {
			return uint8(v)
		}
	}
	return 255
}

// resize scales a w x h float image to ow x oh with a separable triangle
// filter whose support widens by the shrink factor (step 5).
func resize(src []float64, w, h, ow, oh int) []float64 {
	wx, wy := filterWeights(w, ow), filterWeights(h, oh)
	tmp := make([]float64, h*ow) // horizontal pass: h rows of ow
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for x, c := range wx {
			var s float64
			for k, wt := range c.weights {
				s += wt * row[c.start+k]
			}
			tmp[y*ow+x] = s
		}
	}
	dst := make([]float64, oh*ow)
	for y, c := range wy {
		for x := 0; x < ow; x++ {
			var s float64
			for k, wt := range c.weights {
				s += wt * tmp[(c.start+k)*ow+x]
			}
			dst[y*ow+x] = s
		}
	}
	return dst
}

type contribution struct {
	start   int
	weights []float64
}

// filterWeights gives, for each of out output pixels, the weights of the in
// input pixels it averages (normalised to sum 1).
func filterWeights(in, out int) []contribution {
	scale := float64(out) / float64(in)
	fs := max(1, 1/scale) // widen the filter when shrinking
	res := make([]contribution, out)
	for i := range res {
		c := (float64(i) + 0.5) / scale
		lo := max(0, int(math.Floor(c-fs)))
		hi := min(in, int(math.Ceil(c+fs)))
		ws := make([]float64, 0, hi-lo)
		var sum float64
		for j := lo; j < hi; j++ {
			wt := max(0, 1-math.Abs((float64(j)+0.5-c)/fs))
			ws = append(ws, wt)
			sum += wt
		}
		if sum == 0 { // cannot happen with fs >= 1, but never divide by zero
			j := clampInt(int(c), 0, in-1)
			res[i] = contribution{start: j, weights: []float64{1}}
			continue
		}
		for k := range ws {
			ws[k] /= sum
		}
		res[i] = contribution{start: lo, weights: ws}
	}
	return res
}
