package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// These tests run the built binary (buildBinary, binary_test.go) from the
// repository root, so paths print as a user types them.

// cliResult is one run of the binary.
type cliResult = result

// repoRoot is the repository's top folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// runCLI runs the binary in the repository root.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv runs the binary in the repository root with extra environment variables.
func runCLIEnv(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return execBinary(t, buildBinary(t), repoRoot(), env, args...)
}

// imageModel returns the path, relative to the repository root, of a shipped
// model, or $RNNRUN_EXPORT_DIR/name when that is set (to test a fresh export),
// skipping the test when the model is missing.
func imageModel(t *testing.T, name string) string {
	t.Helper()
	p, check := filepath.Join("models", "export", name), ""
	if d := os.Getenv("RNNRUN_EXPORT_DIR"); d != "" {
		p, _ = filepath.Abs(filepath.Join(d, name))
		check = p
	} else {
		check = filepath.Join(repoRoot(), p)
	}
	if _, err := os.Stat(check); err != nil {
		t.Fatalf("shipped model %s missing (models/export is committed)", p)
	}
	return p
}

// classifier opens a model in-process, to compute what the binary must print.
func classifier(t *testing.T, path string) *vision.Classifier {
	t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(repoRoot(), path)
	}
	m, err := model.Open(context.Background(), path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c, err := vision.NewClassifier(m, vision.Options{TopK: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const digitsDir = "runtime/vision/testdata/mnist"

// shippedDigits reads the labels file of the test PNGs: file -> label.
func shippedDigits(t *testing.T) ([]string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), digitsDir, "labels.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	labels := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		p := digitsDir + "/" + f[0]
		files = append(files, p)
		labels[p] = f[1]
	}
	return files, labels
}

// expectLine is what classify prints for one preprocessed picture.
func expectLine(t *testing.T, c *vision.Classifier, name string, img image.Image, topK int) string {
	t.Helper()
	g, err := c.Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.ClassifyOne(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s %s %.3f", name, p.Label, p.Prob)
	for _, k := range p.TopK[1:topK] {
		line += fmt.Sprintf(" %s %.3f", k.Label, k.Prob)
	}
	return line
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	img, _, err := vision.DecodeFile(filepath.Join(repoRoot(), path), vision.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestClassifyShippedPNGs: every shipped digit gets its label, one exact line per file.
func TestClassifyShippedPNGs(t *testing.T) {
	for _, name := range []string{"mnist.onnx", "mnist_tf.onnx"} {
		t.Run(name, func(t *testing.T) {
			mp := imageModel(t, name)
			c := classifier(t, mp)
			files, labels := shippedDigits(t)
			r := runCLI(t, append([]string{"classify", "--model", mp}, files...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var want []string
			for _, f := range files {
				want = append(want, expectLine(t, c, f, decodePNG(t, f), 1))
			}
			if r.stdout != strings.Join(want, "\n")+"\n" {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
			}
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				f := strings.Fields(line)
				if len(f) != 3 || f[1] != labels[f[0]] {
					t.Errorf("%q: want label %s", line, labels[f[0]])
				}
			}
			// --top-k 3 prints three label/probability pairs.
			r = runCLI(t, "classify", "--model", mp, "--top-k", "3", files[0])
			if want := expectLine(t, c, files[0], decodePNG(t, files[0]), 3) + "\n"; r.code != 0 || r.stdout != want {
				t.Errorf("--top-k 3: exit %d, stdout %q, want %q", r.code, r.stdout, want)
			}
		})
	}
}

// TestClassifyRawAndIdx: --raw feeds the PNG's pixels as they are, giving the
// same answer as the idx file the PNG came from, which prints FILE[i] lines.
func TestClassifyRawAndIdx(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	dir := t.TempDir()
	files, _ := shippedDigits(t)
	// An idx file of the ten shipped digits, gzip-compressed.
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 8, 3, 0, 0, 0, byte(len(files)), 0, 0, 0, 28, 0, 0, 0, 28})
	for _, f := range files {
		raw.Write(vision.ToGray(decodePNG(t, f)).Pix)
	}
	idxPath := filepath.Join(dir, "digits-idx3-ubyte.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	os.WriteFile(idxPath, gz.Bytes(), 0o644)
	rawRun := runCLI(t, append([]string{"classify", "--model", mp, "--raw"}, files...)...)
	idxRun := runCLI(t, "classify", "--model", mp, idxPath)
	if rawRun.code != 0 || idxRun.code != 0 {
		t.Fatalf("exit %d (%s), %d (%s)", rawRun.code, rawRun.stderr, idxRun.code, idxRun.stderr)
	}
	rawLines := strings.Split(strings.TrimSpace(rawRun.stdout), "\n")
	idxLines := strings.Split(strings.TrimSpace(idxRun.stdout), "\n")
	if len(rawLines) != len(files) || len(idxLines) != len(files) {
		t.Fatalf("%d raw lines, %d idx lines, want %d", len(rawLines), len(idxLines), len(files))
	}
	for i := range files {
		want := fmt.Sprintf("%s[%d] %s", idxPath, i, strings.SplitN(rawLines[i], " ", 2)[1])
		if idxLines[i] != want {
			t.Errorf("idx line %q, want %q", idxLines[i], want)
		}
	}
	// JSON pixel arrays: a batch of two 28x28 images.
	var imgs [][][]int
	for _, f := range files[:2] {
		g := vision.ToGray(decodePNG(t, f))
		rows := make([][]int, 28)
		for y := range rows {
			rows[y] = make([]int, 28)
			for x := range rows[y] {
				rows[y][x] = int(g.Pix[y*28+x])
			}
		}
		imgs = append(imgs, rows)
	}
	js, _ := json.Marshal(imgs)
	jsPath := filepath.Join(dir, "two.json")
	os.WriteFile(jsPath, js, 0o644)
	r := runCLI(t, "classify", "--model", mp, jsPath)
	want := fmt.Sprintf("%s[0] %s\n%s[1] %s\n", jsPath, strings.SplitN(rawLines[0], " ", 2)[1], jsPath, strings.SplitN(rawLines[1], " ", 2)[1])
	if r.code != 0 || r.stdout != want {
		t.Errorf("JSON pixels: exit %d, stdout %q, want %q (stderr %q)", r.code, r.stdout, want, r.stderr)
	}
}

// variantFiles writes synthetic pictures of a shipped digit: black on white,
// off-centre on a large canvas, large, RGBA on a transparent canvas, JPEG and GIF.
func variantFiles(t *testing.T, dir, src string) []string {
	t.Helper()
	g := vision.ToGray(decodePNG(t, src))
	ink := func(x, y, k int) uint8 { return g.Pix[(y/k)*28+x/k] }
	var files []string
	write := func(name string, enc func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	bw := image.NewGray(image.Rect(0, 0, 28*8, 28*8)) // large, black on white
	for y := 0; y < 28*8; y++ {
		for x := 0; x < 28*8; x++ {
			bw.Pix[y*bw.Stride+x] = 255 - ink(x, y, 8)
		}
	}
	write("black-on-white.png", func(b *bytes.Buffer) error { return png.Encode(b, bw) })
	off := image.NewGray(image.Rect(0, 0, 300, 200)) // white on black, in a corner
	for y := 0; y < 56; y++ {
		for x := 0; x < 56; x++ {
			off.Pix[(130+y)*off.Stride+230+x] = ink(x, y, 2)
		}
	}
	write("off-centre.png", func(b *bytes.Buffer) error { return png.Encode(b, off) })
	rgba := image.NewNRGBA(image.Rect(0, 0, 120, 90)) // blue ink on transparency
	for y := 0; y < 84; y++ {
		for x := 0; x < 84; x++ {
			rgba.SetNRGBA(20+x, 3+y, color.NRGBA{R: 10, G: 40, B: 160, A: ink(x, y, 3)})
		}
	}
	write("rgba.png", func(b *bytes.Buffer) error { return png.Encode(b, rgba) })
	write("photo.jpg", func(b *bytes.Buffer) error { return jpeg.Encode(b, bw, &jpeg.Options{Quality: 70}) })
	write("scan.gif", func(b *bytes.Buffer) error { return gif.Encode(b, bw, nil) })
	return files
}

// TestClassifySyntheticVariants: pictures of the shipped digits in other
// sizes, positions, colours and formats still get the right label.
func TestClassifySyntheticVariants(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	files, labels := shippedDigits(t)
	var args []string
	var want []string
	for _, f := range files {
		dir := filepath.Join(t.TempDir(), filepath.Base(f))
		os.Mkdir(dir, 0o755)
		for _, v := range variantFiles(t, dir, f) {
			args = append(args, v)
			want = append(want, labels[f])
		}
	}
	r := runCLI(t, append([]string{"classify", "--model", mp, "--json"}, args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var out struct {
		Model   string
		Results []struct {
			File, Label, Error string
			Prob               float32
			TopK               []vision.Class `json:"top_k"`
			Probs              []float32
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if out.Model != mp || len(out.Results) != len(args) {
		t.Fatalf("model %q, %d results, want %q and %d", out.Model, len(out.Results), mp, len(args))
	}
	for i, res := range out.Results {
		if res.File != args[i] || res.Label != want[i] || len(res.TopK) != 1 || len(res.Probs) != 10 || res.Prob != res.Probs[res.TopK[0].Index] {
			t.Errorf("%s: %+v, want label %s", args[i], res, want[i])
		}
	}
}

// TestClassifyBadInput: each bad file is one clear error on stderr naming the
// file and the problem; the good files are still classified; the exit status is 1.
func TestClassifyBadInput(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	c := classifier(t, mp)
	dir := t.TempDir()
	files, _ := shippedDigits(t)
	good := files[0]
	pngData, _ := os.ReadFile(filepath.Join(repoRoot(), good))
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	pngHead := func(w, h uint32) []byte {
		b := append([]byte(nil), pngData[:33]...) // signature + IHDR
		b[16], b[17], b[18], b[19] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
		b[20], b[21], b[22], b[23] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h)
		crc := crc32.ChecksumIEEE(b[12:29])
		b[29], b[30], b[31], b[32] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
		return b
	}
	text := write("notes.png", []byte("these are not pixels\n"))
	trunc := write("truncated.png", pngData[:len(pngData)/2])
	zero := write("zero.png", pngHead(0, 0))
	huge := write("huge.png", pngHead(50000, 40000))
	labelsIdx := write("labels-idx1-ubyte", []byte{0, 0, 8, 1, 0, 0, 0, 2, 7, 2})
	truncIdx := write("short-idx3-ubyte", []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3})
	blank := write("blank.png", func() []byte {
		var b bytes.Buffer
		png.Encode(&b, image.NewGray(image.Rect(0, 0, 40, 40)))
		return b.Bytes()
	}())
	missing := filepath.Join(dir, "missing.png")
	args := []string{"classify", "--model", mp, text, good, trunc, zero, huge, labelsIdx, truncIdx, blank, missing, files[1]} // a folder stands for its files: TestClassifyFileLists
	r := runCLI(t, args...)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	want := expectLine(t, c, good, decodePNG(t, good), 1) + "\n" + expectLine(t, c, files[1], decodePNG(t, files[1]), 1) + "\n"
	if r.stdout != want {
		t.Errorf("stdout %q, want the two good files %q", r.stdout, want)
	}
	wantErr := []string{
		"rnnrun: " + text + ": not a PNG, JPEG or GIF image",
		"rnnrun: " + trunc + ": corrupt image: decoding the png image: the file is truncated or corrupt (png: invalid format: not enough pixel data)",
		"rnnrun: " + zero + ": empty image: the PNG header says 0x0",
		"rnnrun: " + huge + ": image too large: the png image is 50000x40000 (2000000000 pixels), more than the limit of 16777216 pixels",
		"rnnrun: " + labelsIdx + ": bad idx file: wrong magic number 2049 (0x00000801) (a labels file), want 2051 (0x00000803, images)",
		"rnnrun: " + truncIdx + ": bad idx file: truncated: header [2 28 28] needs 1568 bytes of data, the file has 3",
		"rnnrun: " + blank + ": no ink: the image is blank (ink and background differ by 0 grey levels, need 24)",
		"rnnrun: open " + missing + ": no such file or directory",
		"rnnrun: 8 of 10 files could not be classified",
	}
	if got := strings.Split(strings.TrimSpace(r.stderr), "\n"); strings.Join(got, "\n") != strings.Join(wantErr, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, strings.Join(wantErr, "\n"))
	}
	// --max-pixels lowers the limit.
	r = runCLI(t, "classify", "--model", mp, "--max-pixels", "100", good)
	if r.code != 1 || !strings.Contains(r.stderr, good+": image too large: the png image is 28x28 (784 pixels), more than the limit of 100 pixels") {
		t.Errorf("--max-pixels 100: exit %d, stderr %q", r.code, r.stderr)
	}
	// --raw needs the model's size.
	big := variantFiles(t, dir, good)[0]
	r = runCLI(t, "classify", "--model", mp, "--raw", big, good)
	wantErr1 := "rnnrun: " + big + ": wrong image size: 224x224, the model takes 28x28 (--raw feeds pixels as they are)\n"
	if r.code != 1 || !strings.HasPrefix(r.stderr, wantErr1) || len(strings.Fields(r.stdout)) != 3 {
		t.Errorf("--raw: exit %d, stdout %q, stderr %q; want exit 1, one line and %q", r.code, r.stdout, r.stderr, wantErr1)
	}
}

// TestClassifyWrongModel: a text-generation model is refused, naming the model.
func TestClassifyWrongModel(t *testing.T) {
	files, _ := shippedDigits(t)
	char := imageModel(t, "char.onnx")
	for _, cmd := range [][]string{{"classify", "--model", char, files[0]}, {"eval", "--model", char}} {
		r := runCLI(t, cmd...)
		want := "rnnrun: " + char + `: not an image-classification model: its metadata task is "text-generation", want "image-classification"` + "\n"
		if r.code != 1 || r.stdout != "" || r.stderr != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", cmd[0], r.code, r.stdout, r.stderr, want)
		}
	}
}

// TestClassifyUsage: command-line mistakes exit with status 2.
func TestClassifyUsage(t *testing.T) {
	files, _ := shippedDigits(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"classify", "--model", "models/export/mnist.onnx"}, "no image files given"},
		{[]string{"classify", "--model", "models/export/mnist.onnx", "--top-k", "0", files[0]}, "--top-k must be at least 1, got 0"},
		{[]string{"classify", "--model", "models/export/mnist.onnx", "--batch-size", "0", files[0]}, "--batch-size must be at least 1, got 0"},
		{[]string{"classify", files[0]}, "--model is required"},
		{[]string{"classify", "--model", "models/export/mnist.onnx", "--top-k", "x", files[0]}, "invalid argument"},
		{[]string{"eval", "--model", "models/export/mnist.onnx", "--limit", "-1"}, "--limit must not be negative, got -1"},
		{[]string{"eval", "--model", "models/export/mnist.onnx", "extra"}, "unknown command"},
	} {
		r := runCLI(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.msg)
		}
	}
}
