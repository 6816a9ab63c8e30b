package vision

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// The synthetic variants of a real digit: each is a different picture of the
// same digit that Preprocess must bring back to (nearly) the same image.

// blackOnWhite inverts a light-on-dark image.
func blackOnWhite(g Gray) Gray {
	out := NewGray(g.Width, g.Height)
	for i, p := range g.Pix {
		out.Pix[i] = 255 - p
	}
	return out
}

// offCentre puts the digit at (x, y) on a w x h black canvas.
func offCentre(g Gray, w, h, x, y int) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(out, image.Rect(x, y, x+g.Width, y+g.Height), g.Image(), image.Point{}, draw.Src)
	return out
}

// large scales the digit up k times (nearest neighbour) as black ink on white.
func large(g Gray, k int) Gray {
	out := NewGray(g.Width*k, g.Height*k)
	for y := 0; y < g.Height*k; y++ {
		for x := 0; x < g.Width*k; x++ {
			out.Pix[y*out.Width+x] = 255 - g.Pix[(y/k)*g.Width+x/k]
		}
	}
	return out
}

// rgbaInk draws the digit as dark blue ink (alpha = pixel) on a transparent canvas.
func rgbaInk(g Gray) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, 60, 50))
	for y := 0; y < g.Height; y++ {
		for x := 0; x < g.Width; x++ {
			out.SetNRGBA(x+20, y+10, color.NRGBA{R: 20, G: 30, B: 120, A: g.Pix[y*g.Width+x]})
		}
	}
	return out
}

// rgbaLightInk draws the digit in yellow (alpha = pixel) on a transparent canvas.
func rgbaLightInk(g Gray) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	for y := 0; y < g.Height; y++ {
		for x := 0; x < g.Width; x++ {
			out.SetNRGBA(x+6, y+6, color.NRGBA{R: 250, G: 230, B: 40, A: g.Pix[y*g.Width+x]})
		}
	}
	return out
}

// colourPaper draws the digit in dark green on light yellow paper, opaque RGBA.
func colourPaper(g Gray) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, 3*g.Width, 3*g.Height))
	paper, ink := [3]float64{250, 240, 190}, [3]float64{10, 80, 30}
	for y := 0; y < 3*g.Height; y++ {
		for x := 0; x < 3*g.Width; x++ {
			a := float64(g.Pix[(y/3)*g.Width+x/3]) / 255
			var c [3]uint8
			for i := range c {
				c[i] = uint8(math.Round(paper[i]*(1-a) + ink[i]*a))
			}
			out.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
		}
	}
	return out
}

// jpegOf encodes img as a JPEG of the given quality and decodes it again.
func jpegOf(t testing.TB, img image.Image, quality int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	out, format, err := DecodeBytes(buf.Bytes(), DecodeOptions{})
	if err != nil || format != "jpeg" {
		t.Fatalf("decoding the JPEG: %v (%s)", err, format)
	}
	return out
}

// gifOf encodes img as a GIF and decodes it again: with palette p, or with
// the Plan 9 palette and Floyd-Steinberg dithering when p is nil.
func gifOf(t testing.TB, img image.Image, p color.Palette) image.Image {
	t.Helper()
	var buf bytes.Buffer
	opts := &gif.Options{NumColors: 256, Drawer: draw.FloydSteinberg}
	if p != nil {
		pal := image.NewPaletted(img.Bounds(), p)
		draw.Draw(pal, pal.Bounds(), img, img.Bounds().Min, draw.Src)
		img = pal
	}
	if err := gif.Encode(&buf, img, opts); err != nil {
		t.Fatal(err)
	}
	out, format, err := DecodeBytes(buf.Bytes(), DecodeOptions{})
	if err != nil || format != "gif" {
		t.Fatalf("decoding the GIF: %v (%s)", err, format)
	}
	return out
}

// variant is a synthetic picture of a digit and how far its preprocessing
// may be from the original's (mean absolute difference in grey levels).
type variant struct {
	name    string
	img     image.Image
	maxDiff float64
}

// variants lists the synthetic pictures of digit g: the first ones carry the
// same pixels and must preprocess identically; the others are re-scaled,
// recoloured, lossy or dithered.
func variants(t testing.TB, g Gray) []variant {
	return []variant{
		{"original", g, 0},
		{"black-on-white", blackOnWhite(g), 0},
		{"off-centre", offCentre(g, 100, 70, 60, 5), 0},
		{"offset-bounds", shifted(g), 0},
		{"grey16-on-white", gray16(blackOnWhite(g)), 0},
		{"large", large(g, 12), 20},
		{"large-off-centre", offCentre(blackOnWhite(large(g, 4)), 400, 300, 10, 150), 20},
		{"rgba-dark-ink", rgbaInk(g), 20},
		{"rgba-light-ink", rgbaLightInk(g), 20},
		{"colour-paper", colourPaper(g), 20},
		{"jpeg", jpegOf(t, large(g, 6), 75), 20},
		{"jpeg-colour", jpegOf(t, colourPaper(g), 60), 20},
		{"gif-grey", gifOf(t, large(g, 5), greys()), 20},
		{"paletted-plan9", toPaletted(colourPaper(g)), 30},
		{"gif-dithered-colour", gifOf(t, colourPaper(g), nil), 50},
	}
}

// mustClassify reports whether a variant must keep its label. Colour paper
// dithered to the Plan 9 palette breaks thin strokes apart: it preprocesses
// close to the original (TestPreprocessInvariants) but a borderline digit
// may change class, so it is only reported.
func (v variant) mustClassify() bool { return v.name != "gif-dithered-colour" }

// greys is a palette of the 256 grey levels.
func greys() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		p[i] = color.Gray{Y: uint8(i)}
	}
	return p
}

func toPaletted(img image.Image) *image.Paletted {
	out := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}

func gray16(img image.Image) *image.Gray16 {
	out := image.NewGray16(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}

// shifted is the digit in an image whose bounds do not start at (0, 0).
func shifted(g Gray) image.Image {
	img := image.NewGray(image.Rect(-40, 17, -40+g.Width, 17+g.Height))
	draw.Draw(img, img.Bounds(), g.Image(), image.Point{}, draw.Src)
	return img
}

func meanAbsDiff(a, b Gray) float64 {
	var s float64
	for i := range a.Pix {
		s += math.Abs(float64(a.Pix[i]) - float64(b.Pix[i]))
	}
	return s / float64(len(a.Pix))
}

func centreOfMass(g Gray) (float64, float64) {
	var m, mx, my float64
	for y := 0; y < g.Height; y++ {
		for x := 0; x < g.Width; x++ {
			v := float64(g.Pix[y*g.Width+x])
			m += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
		}
	}
	return mx / m, my / m
}

func inkBox(g Gray) image.Rectangle {
	r := image.Rectangle{}
	for y := 0; y < g.Height; y++ {
		for x := 0; x < g.Width; x++ {
			if g.Pix[y*g.Width+x] > 0 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

// TestPreprocessMNISTShape: a real digit comes out 28x28, its ink fitting
// 20x20 with one side exactly 20, centred by mass within half a pixel.
func TestPreprocessMNISTShape(t *testing.T) {
	for _, d := range shippedDigits(t) {
		g, err := Preprocess(readPNG(t, d.File), PreprocessOptions{})
		if err != nil {
			t.Fatalf("%s: %v", d.File, err)
		}
		if g.Width != 28 || g.Height != 28 || len(g.Pix) != 784 {
			t.Fatalf("%s: %dx%d", d.File, g.Width, g.Height)
		}
		box := inkBox(g)
		if box.Dx() > 20 || box.Dy() > 20 || (box.Dx() != 20 && box.Dy() != 20) {
			t.Errorf("%s: ink box %v, want the long side 20 and the other at most 20", d.File, box)
		}
		cx, cy := centreOfMass(g)
		if math.Abs(cx-14) > 0.5+1e-9 || math.Abs(cy-14) > 0.5+1e-9 {
			t.Errorf("%s: centre of mass (%.2f, %.2f), want within 0.5 of (14, 14)", d.File, cx, cy)
		}
	}
}

// TestPreprocessInvariants: inverting the picture, moving the digit on a larger
// canvas or giving the image odd bounds changes nothing at all; the other
// variants land close to the original.
func TestPreprocessInvariants(t *testing.T) {
	for _, d := range shippedDigits(t) {
		src := readPNG(t, d.File)
		want, err := Preprocess(src, PreprocessOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range variants(t, src) {
			got, err := Preprocess(v.img, PreprocessOptions{})
			if err != nil {
				t.Errorf("%s %s: %v", d.File, v.name, err)
				continue
			}
			if diff := meanAbsDiff(got, want); diff > v.maxDiff {
				t.Errorf("%s %s: mean |diff| %.2f grey levels from the original's preprocessing, want <= %g\n%s", d.File, v.name, diff, v.maxDiff, ascii(got))
			}
		}
	}
}

// TestPreprocessGeometry follows a black bar on white through every step.
func TestPreprocessGeometry(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 100, 80))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 30; y < 70; y++ { // a 10x40 bar at (50, 30)
		for x := 50; x < 60; x++ {
			img.Pix[y*100+x] = 0
		}
	}
	g, err := Preprocess(img, PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Scaled by 20/40 to 5x20; centre of mass (2.5, 10) goes to (14, 14):
	// offset (round(11.5), 4) = (12, 4).
	want := NewGray(28, 28)
	for y := 4; y < 24; y++ {
		for x := 12; x < 17; x++ {
			want.Pix[y*28+x] = 255
		}
	}
	if string(g.Pix) != string(want.Pix) {
		t.Errorf("bar preprocessed to\n%s\nwant\n%s", ascii(g), ascii(want))
	}
	// The same bar for a dark-on-light model is inverted.
	d, err := Preprocess(img, PreprocessOptions{Ink: InkDarkOnLight})
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Pix {
		if d.Pix[i] != 255-want.Pix[i] {
			t.Fatalf("dark-on-light: pixel %d is %d, want %d", i, d.Pix[i], 255-want.Pix[i])
		}
	}
	// Other output sizes scale the box with them: 56x56 fits the ink in 40x40.
	big, err := Preprocess(img, PreprocessOptions{Width: 56, Height: 56})
	if err != nil {
		t.Fatal(err)
	}
	if box := inkBox(big); box.Dx() != 10 || box.Dy() != 40 {
		t.Errorf("56x56: ink box %v, want 10x40", box)
	}
}

// TestPreprocessSmallInk: a tiny dot is scaled up to fill the box.
func TestPreprocessSmallInk(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 9, 9))
	img.Pix[4*9+4] = 255
	g, err := Preprocess(img, PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if box := inkBox(g); box.Dx() != 20 || box.Dy() != 20 {
		t.Errorf("ink box %v, want 20x20", box)
	}
}

func TestPreprocessErrors(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 30, 30))
	grey := image.NewUniform(color.Gray{Y: 128})
	faint := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range faint.Pix {
		faint.Pix[i] = 200
	}
	faint.Pix[15*30+15] = 190 // 10 levels: noise, not ink
	transparent := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	for _, c := range []struct {
		name string
		img  image.Image
		want error
	}{
		{"black", blank, ErrNoInk},
		{"uniform", image.NewGray(image.Rect(0, 0, 5, 5)), ErrNoInk},
		{"grey", &boundedUniform{grey, image.Rect(0, 0, 20, 20)}, ErrNoInk},
		{"faint", faint, ErrNoInk},
		{"transparent", transparent, ErrNoInk},
		{"0x0", image.NewGray(image.Rect(0, 0, 0, 0)), ErrEmptyImage},
		{"0x5", image.NewGray(image.Rect(0, 0, 0, 5)), ErrEmptyImage},
		{"nil", nil, ErrEmptyImage},
	} {
		_, err := Preprocess(c.img, PreprocessOptions{})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Preprocess(blank, PreprocessOptions{Ink: "sideways"}); err == nil {
		t.Error("unknown ink accepted")
	}
	if _, err := Preprocess(blank, PreprocessOptions{Box: 30}); err == nil {
		t.Error("a box larger than the output accepted")
	}
}

type boundedUniform struct {
	*image.Uniform
	r image.Rectangle
}

func (b *boundedUniform) Bounds() image.Rectangle { return b.r }

// TestToGrayModels: every colour model converts to the same luma as color.GrayModel.
func TestToGrayModels(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 37)
	}
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			src.Pix[y*src.Stride+x*4+3] = 255 // opaque
		}
	}
	g := toGray(src)
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			want := color.GrayModel.Convert(src.At(x, y)).(color.Gray).Y
			if got := g.Pix[y*16+x]; got != want {
				t.Fatalf("(%d,%d): luma %d, color.GrayModel says %d", x, y, got, want)
			}
		}
	}
	// RGBA64 with transparency over white: a half-transparent black pixel is mid grey.
	half := image.NewRGBA64(image.Rect(0, 0, 2, 1))
	half.SetRGBA64(0, 0, color.RGBA64{0, 0, 0, 0x8000})
	half.SetRGBA64(1, 0, color.RGBA64{0, 0, 0, 0xffff})
	if g := toGray(half); g.Pix[0] < 126 || g.Pix[0] > 128 || g.Pix[1] != 0 {
		t.Errorf("transparency over white: %v, want [127 0]", g.Pix)
	}
}

func TestDecode(t *testing.T) {
	digit := readPNG(t, shippedDigits(t)[0].File)
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, colourPaper(digit)); err != nil {
		t.Fatal(err)
	}
	full := pngBuf.Bytes()
	for _, c := range []struct {
		name string
		data []byte
		opts DecodeOptions
		want error
		msg  string
	}{
		{"text", []byte("hello, this is not an image\n"), DecodeOptions{}, ErrNotImage, "not a PNG, JPEG or GIF image"},
		{"empty", nil, DecodeOptions{}, ErrNotImage, "the file is empty"},
		{"truncated header", full[:20], DecodeOptions{}, ErrBadImage, "truncated"},
		{"truncated data", full[:len(full)/2], DecodeOptions{}, ErrBadImage, "decoding the png image: the file is truncated or corrupt"},
		{"truncated end", full[:len(full)-1], DecodeOptions{}, ErrBadImage, "decoding the png image: the file is truncated"},
		{"0x0", pngHeader(0, 0), DecodeOptions{}, ErrEmptyImage, "0x0"},
		{"0x7", pngHeader(0, 7), DecodeOptions{}, ErrEmptyImage, "0x7"},
		{"huge", pngHeader(100000, 100000), DecodeOptions{}, ErrTooLarge, "100000x100000 (10000000000 pixels), more than the limit of 16777216 pixels"},
		{"over a set limit", full, DecodeOptions{MaxPixels: 1000}, ErrTooLarge, "84x84 (7056 pixels), more than the limit of 1000 pixels"},
		{"over the byte limit", full, DecodeOptions{MaxBytes: 100}, ErrTooLarge, "larger than the limit of 100 bytes"},
		{"gif 0x0", gifHeader(0, 0), DecodeOptions{}, ErrEmptyImage, "0x0"},
	} {
		_, _, err := DecodeBytes(c.data, c.opts)
		if c.name == "over the byte limit" {
			_, _, err = Decode(bytes.NewReader(c.data), c.opts)
		}
		if !errors.Is(err, c.want) || !bytes.Contains([]byte(err.Error()), []byte(c.msg)) {
			t.Errorf("%s: error %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
	img, format, err := DecodeBytes(full, DecodeOptions{})
	if err != nil || format != "png" || img.Bounds().Dx() != 84 {
		t.Errorf("valid PNG: %v, %q, %v", err, format, img.Bounds())
	}
}

// pngHeader is a PNG signature and a valid IHDR chunk for a w x h grey image, nothing else.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write(pngSignature)
	ihdr := []byte{0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0}
	putBE32(ihdr[0:], w)
	putBE32(ihdr[4:], h)
	writeChunk(&b, "IHDR", ihdr)
	return b.Bytes()
}

// gifHeader is a GIF header with a w x h logical screen and an empty image.
func gifHeader(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = append(b, byte(w), byte(w>>8), byte(h), byte(h>>8), 0, 0, 0)
	return append(b, 0x3b)
}
