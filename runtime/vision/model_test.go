package vision

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
)

// imageModels are the shipped image-classification models.
var imageModels = []string{"mnist.onnx", "mnist_tf.onnx"}

func loadGolden(t testing.TB, model string) *golden.File {
	t.Helper()
	path := filepath.Join(exportDir, "testdata", model[:len(model)-len(filepath.Ext(model))]+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden vectors missing (models/export/testdata is committed): %v", err)
	}
	var f golden.File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f.Tolerance == 0 {
		f.Tolerance = 1e-5
	}
	return &f
}

// TestGoldenParity: the model run directly, and the classifier fed the pixels
// behind the golden inputs, give Keras's outputs within the golden tolerance.
func TestGoldenParity(t *testing.T) {
	for _, name := range imageModels {
		t.Run(name, func(t *testing.T) {
			g := loadGolden(t, name)
			c := newClassifier(t, name, Options{BatchSize: 7})
			m := c.Model()
			output := m.Metadata().Output
			if len(g.Cases) == 0 {
				t.Fatal("no golden cases")
			}
			for _, gc := range g.Cases {
				out, err := m.Run(context.Background(), gc.ModelInputs())
				if err != nil {
					t.Fatalf("%s: %v", gc.Name, err)
				}
				for k, want := range gc.Outputs {
					d, err := golden.MaxAbsDiff(out[k].Float32s(), want.Data)
					if err != nil || d > g.Tolerance {
						t.Errorf("%s: Run output %q differs from Keras by %g (tolerance %g) %v", gc.Name, k, d, g.Tolerance, err)
					}
				}
				// The golden x must be pixels / 255 exactly: recover the pixels.
				x := gc.Inputs[m.Metadata().Input]
				n := int(x.Shape[0])
				images := make([]Gray, n)
				for i := range images {
					images[i] = NewGray(28, 28)
					for j := range images[i].Pix {
						v := x.Data[i*784+j]
						p := math.Round(float64(v) * 255)
						if p < 0 || p > 255 || c.Scale(uint8(p)) != v {
							t.Fatalf("%s: golden x[%d] pixel %d = %v is not a pixel/255", gc.Name, i, j, v)
						}
						images[i].Pix[j] = uint8(p)
					}
				}
				preds, err := c.Classify(context.Background(), images)
				if err != nil {
					t.Fatal(err)
				}
				want := gc.Outputs[output]
				classes := int(want.Shape[1])
				correct := 0
				for i, p := range preds {
					row := want.Data[i*classes : (i+1)*classes]
					got := p.Probs
					if c.Logits() {
						got = p.Logits
						probs := make([]float32, classes)
						Softmax(probs, row)
						if d, _ := golden.MaxAbsDiff(p.Probs, probs); d > g.Tolerance {
							t.Errorf("%s image %d: probabilities differ from the softmax of Keras's logits by %g", gc.Name, i, d)
						}
					}
					if d, err := golden.MaxAbsDiff(got, row); err != nil || d > g.Tolerance {
						t.Errorf("%s image %d: classifier output differs from Keras by %g (tolerance %g) %v", gc.Name, i, d, g.Tolerance, err)
					}
					if p.Index != Argmax(row) {
						t.Errorf("%s image %d: class %d, Keras %d", gc.Name, i, p.Index, Argmax(row))
					}
					if i < len(g.Labels) && p.Index == g.Labels[i] {
						correct++
					}
				}
				t.Logf("%s: %d images within %g of Keras; %d of %d labels correct", gc.Name, n, g.Tolerance, correct, len(g.Labels))
			}
		})
	}
}

// TestEvalMatchesKeras: on the evaluation set the exporter used, the count of
// correct images equals the one Keras recorded in the metadata, exactly.
func TestEvalMatchesKeras(t *testing.T) {
	images, labels := mnistTest(t)
	for _, name := range imageModels {
		t.Run(name, func(t *testing.T) {
			c := newClassifier(t, name, Options{})
			meta := c.Model().Metadata()
			if meta.EvalTotal == 0 || meta.EvalTotal > len(images) {
				t.Fatalf("metadata eval_total %d", meta.EvalTotal)
			}
			r, err := c.Evaluate(context.Background(), images[:meta.EvalTotal], labels[:meta.EvalTotal], EvalOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Correct != meta.EvalCorrect || r.Total != meta.EvalTotal {
				t.Errorf("%d/%d correct, Keras %d/%d (metadata eval_data %q)", r.Correct, r.Total, meta.EvalCorrect, meta.EvalTotal, meta.Raw["eval_data"])
			}
			if s := meta.Raw["eval_correct_onnxruntime"]; s != "" && s != strconv.Itoa(r.Correct) {
				t.Errorf("%d correct, the exporter's ONNX Runtime run counted %s", r.Correct, s)
			}
			var sum, diag int
			for i, row := range r.Confusion {
				for j, n := range row {
					sum += n
					if i == j {
						diag += n
					}
				}
			}
			if sum != r.Total || diag != r.Correct {
				t.Errorf("confusion matrix sums to %d with diagonal %d", sum, diag)
			}
			t.Logf("%s: %d/%d = %.4f (Keras %s), %.0f images/s", name, r.Correct, r.Total, r.Accuracy, meta.Raw["eval_accuracy"], r.ImagesPerSecond)
		})
	}
}

// TestShippedDigits: the PNGs in testdata/mnist classify as their labels fed
// raw (exactly the idx pixels) and preprocessed, and so does every synthetic
// variant of them (black on white, off-centre, large, RGBA, JPEG, GIF...).
func TestShippedDigits(t *testing.T) {
	digits := shippedDigits(t)
	images, _ := mnistTest(t)
	for _, name := range imageModels {
		t.Run(name, func(t *testing.T) {
			c := newClassifier(t, name, Options{})
			var batch []Gray
			var what []string
			var want []int
			var must []bool
			add := func(g Gray, w string, label int, required bool) {
				batch, what, want, must = append(batch, g), append(what, w), append(want, label), append(must, required)
			}
			for _, d := range digits {
				src := readPNG(t, d.File)
				add(src, d.File+" raw", d.Label, true)
				add(images[d.Index], fmt.Sprintf("t10k[%d]", d.Index), d.Label, true)
				for _, v := range variants(t, src) {
					g, err := c.Prepare(v.img)
					if err != nil {
						t.Fatalf("%s %s: %v", d.File, v.name, err)
					}
					add(g, d.File+" "+v.name, d.Label, v.mustClassify())
				}
			}
			preds, err := c.Classify(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range preds {
				switch {
				case p.Index == want[i]:
				case must[i]:
					t.Errorf("%s: classified %s (%.3f), want %d\n%s", what[i], p.Label, p.Prob, want[i], ascii(batch[i]))
				default:
					t.Logf("%s: classified %s (%.3f), the digit is %d (not required)", what[i], p.Label, p.Prob, want[i])
				}
			}
			// The raw PNG and the idx image are the same pixels: the same answer.
			for i := 0; i+1 < len(preds); i++ {
				if what[i+1][:4] == "t10k" {
					if d, _ := golden.MaxAbsDiff(preds[i].Probs, preds[i+1].Probs); d > 1e-6 {
						t.Errorf("%s and %s differ by %g", what[i], what[i+1], d)
					}
				}
			}
		})
	}
}

// TestPreprocessKeepsAccuracy: preprocessing MNIST's own test images (already
// centred and scaled) must keep them recognisable: the accuracy on the first
// 2000 after Preprocess stays close to the accuracy without it.
func TestPreprocessKeepsAccuracy(t *testing.T) {
	images, labels := mnistTest(t)
	images, labels = images[:2000], labels[:2000]
	c := newClassifier(t, "mnist.onnx", Options{})
	prepped := make([]Gray, len(images))
	for i, g := range images {
		var err error
		if prepped[i], err = c.Prepare(g); err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
	}
	base, err := c.Evaluate(context.Background(), images, labels, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := c.Evaluate(context.Background(), prepped, labels, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy on the first 2000: %.4f as stored, %.4f preprocessed", base.Accuracy, after.Accuracy)
	if base.Accuracy > 0.9 && after.Accuracy < base.Accuracy-0.01 {
		t.Errorf("preprocessing drops the accuracy from %.4f to %.4f", base.Accuracy, after.Accuracy)
	}
}

// TestEvaluateProgress: the progress callback runs serially up to the total.
func TestEvaluateProgress(t *testing.T) {
	images, labels := mnistTest(t)
	c := newClassifier(t, "mnist.onnx", Options{BatchSize: 64, Workers: 2})
	last, calls := -1, 0
	_, err := c.Evaluate(context.Background(), images[:500], labels[:500], EvalOptions{Progress: func(done, total int) {
		calls++
		if total != 500 || done < last {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != 500 || calls != 1+8 {
		t.Errorf("progress ended at %d after %d calls, want 500 after 9", last, calls)
	}
}

// BenchmarkClassify measures images per second at batch sizes 1, 32 and 256
// (one worker, one model call per batch).
func BenchmarkClassify(b *testing.B) {
	images, _ := mnistTest(b)
	for _, bs := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch=%d", bs), func(b *testing.B) {
			c := newClassifier(b, "mnist.onnx", Options{BatchSize: bs, Workers: 1})
			batch := images[:bs]
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Classify(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bs*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestBatchIndependence: the same images in other orders and batch sizes get
// the same classes and (within float noise) the same probabilities.
func TestBatchIndependence(t *testing.T) {
	images, _ := mnistTest(t)
	images = images[:300]
	var ref []Prediction
	for _, o := range []Options{{BatchSize: 256, Workers: 1}, {BatchSize: 1, Workers: 2}, {BatchSize: 7, Workers: 3}, {BatchSize: 300}} {
		c := newClassifier(t, "mnist.onnx", o)
		preds, err := c.Classify(context.Background(), images)
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = preds
			continue
		}
		worst := 0.0
		for i := range preds {
			if preds[i].Index != ref[i].Index {
				t.Errorf("%+v: image %d is class %d, with batches of 256 %d", o, i, preds[i].Index, ref[i].Index)
			}
			d, _ := golden.MaxAbsDiff(preds[i].Probs, ref[i].Probs)
			worst = max(worst, d)
		}
		if worst > 1e-6 {
			t.Errorf("%+v: probabilities differ from batches of 256 by %g", o, worst)
		}
		t.Logf("%+v: max difference from batches of 256: %g", o, worst)
	}
}
