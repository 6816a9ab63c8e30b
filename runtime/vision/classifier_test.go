package vision

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// fakeBackend is an image model whose output for image i is its first row's
// first ten scaled pixels: out[i][k] = x[i][0][k]. It records batch sizes.
type fakeBackend struct {
	sig  model.Signature
	meta map[string]string
	mu   sync.Mutex
	runs []int
}

func newFake(meta map[string]string, batchDim int64) *fakeBackend {
	m := map[string]string{
		"task": "image-classification", "input": "x", "output": "probs", "output_kind": "probabilities",
		"labels":       `["zero","one","two","three","four","five","six","seven","eight","nine"]`,
		"image_height": "28", "image_width": "28", "input_mean": "0", "input_std": "255",
	}
	for k, v := range meta {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out := m["output"]
	if out == "" {
		out = "probs"
	}
	return &fakeBackend{
		sig: model.Signature{
			Inputs:  []model.TensorInfo{{Name: "x", Type: model.Float32, Shape: model.Shape{batchDim, 28, 28}}},
			Outputs: []model.TensorInfo{{Name: out, Type: model.Float32, Shape: model.Shape{batchDim, 10}}},
		},
		meta: m,
	}
}

func (f *fakeBackend) Signature() model.Signature  { return f.sig }
func (f *fakeBackend) Metadata() map[string]string { return f.meta }
func (f *fakeBackend) Close() error                { return nil }
func (f *fakeBackend) Run(ctx context.Context, in map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	x := in["x"]
	n := int(x.Shape[0])
	f.mu.Lock()
	f.runs = append(f.runs, n)
	f.mu.Unlock()
	out := make([]float32, n*10)
	for i := 0; i < n; i++ {
		copy(out[i*10:(i+1)*10], x.Float32s()[i*784:i*784+10])
	}
	return map[string]*model.Tensor{f.sig.Outputs[0].Name: model.NewFloat32(model.Shape{int64(n), 10}, out)}, nil
}

func fakeModel(t testing.TB, f *fakeBackend) *model.Model {
	t.Helper()
	m, err := model.New("fake.onnx", "fake", f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// imageWithRow returns a 28x28 image whose first row starts with row.
func imageWithRow(row ...uint8) Gray {
	g := NewGray(28, 28)
	copy(g.Pix, row)
	return g
}

// TestScaleBitExact: the model input for every pixel value is bit for bit
// numpy's np.arange(256, dtype=uint8).astype(float32) / 255.0.
func TestScaleBitExact(t *testing.T) {
	c, err := NewClassifier(fakeModel(t, newFake(nil, -1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for p := 0; p < 256; p++ {
		binary.Write(h, binary.LittleEndian, c.Scale(uint8(p)))
	}
	// From numpy 2.x: hashlib.sha256((np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0).astype('<f4').tobytes())
	const numpy = "010413efe9fc4438fee48de66c4d09f377b28af6a9fe2522201e8c1dbb831fc8"
	if got := hex.EncodeToString(h.Sum(nil)); got != numpy {
		t.Errorf("scaled pixels hash %s, numpy's %s", got, numpy)
	}
	for p, bits := range map[uint8]uint32{1: 0x3b808081, 3: 0x3c40c0c1, 77: 0x3e9a9a9b, 254: 0x3f7efeff} {
		if got := math.Float32bits(c.Scale(p)); got != bits {
			t.Errorf("pixel %d scales to %#x, numpy %#x", p, got, bits)
		}
	}
	// Other metadata scaling: (p - 127.5) / 127.5.
	c2, err := NewClassifier(fakeModel(t, newFake(map[string]string{"input_mean": "127.5", "input_std": "127.5"}, -1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Scale(0) != -1 || c2.Scale(255) != 1 || c2.Scale(51) != float32(float32(51-127.5)/127.5) {
		t.Errorf("mean 127.5 std 127.5: %v %v %v", c2.Scale(0), c2.Scale(255), c2.Scale(51))
	}
}

func TestClassifyFake(t *testing.T) {
	f := newFake(nil, -1)
	c, err := NewClassifier(fakeModel(t, f), Options{BatchSize: 256, Workers: 3, TopK: 3})
	if err != nil {
		t.Fatal(err)
	}
	images := make([]Gray, 600)
	for i := range images {
		row := make([]uint8, 10)
		row[i%10] = uint8(100 + i%100)
		row[(i+3)%10] = uint8(100 + i%100) // a tie: the first maximum wins
		row[(i+5)%10] = 50
		images[i] = imageWithRow(row...)
	}
	preds, err := c.Classify(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range preds {
		a, b := i%10, (i+3)%10
		want := min(a, b)
		if p.Index != want || p.Label != c.Labels()[want] || p.Prob != float32(100+i%100)/255 {
			t.Fatalf("image %d: %+v, want class %d prob %v", i, p, want, float32(100+i%100)/255)
		}
		if len(p.TopK) != 3 || p.TopK[0].Index != want || p.TopK[1].Index != max(a, b) || p.TopK[2].Index != (i+5)%10 || p.TopK[2].Prob != float32(50)/255 {
			t.Fatalf("image %d: top-k %+v", i, p.TopK)
		}
		if p.Logits != nil || len(p.Probs) != 10 {
			t.Fatalf("image %d: logits %v probs %v", i, p.Logits, p.Probs)
		}
	}
	f.mu.Lock()
	runs := fmt.Sprint(sortedInts(f.runs))
	f.mu.Unlock()
	if runs != "[88 256 256]" {
		t.Errorf("batches %s, want [88 256 256]", runs)
	}
	// Order and batching do not change any result.
	rev := make([]Gray, len(images))
	for i := range images {
		rev[i] = images[len(images)-1-i]
	}
	c1, _ := NewClassifier(fakeModel(t, newFake(nil, -1)), Options{BatchSize: 7, Workers: 1, TopK: 3})
	again, err := c1.Classify(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if fmt.Sprint(again[i]) != fmt.Sprint(preds[len(preds)-1-i]) {
			t.Fatalf("image %d differs reversed in batches of 7", i)
		}
	}
	if got, err := c.Classify(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("no images: %v %v", got, err)
	}
}

func sortedInts(v []int) []int {
	out := append([]int(nil), v...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestClassifyLogits(t *testing.T) {
	c, err := NewClassifier(fakeModel(t, newFake(map[string]string{"output": "logits", "output_kind": "logits"}, -1)), Options{TopK: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Logits() {
		t.Fatal("logits model not recognised")
	}
	p, err := c.ClassifyOne(context.Background(), imageWithRow(0, 255, 128, 255))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	logits := []float64{0, 1, float64(float32(128) / 255), 1, 0, 0, 0, 0, 0, 0}
	var z float64
	for _, l := range logits {
		z += math.Exp(l)
	}
	for k, pr := range p.Probs {
		sum += float64(pr)
		if want := math.Exp(logits[k]) / z; math.Abs(float64(pr)-want) > 1e-7 {
			t.Errorf("prob %d = %v, softmax %v", k, pr, want)
		}
	}
	if math.Abs(sum-1) > 1e-6 || p.Index != 1 || p.Label != "one" || p.Logits[1] != 1 || p.TopK[1].Index != 3 || p.TopK[2].Index != 2 {
		t.Errorf("prediction %+v (sum %v)", p, sum)
	}
	// Softmax of huge logits neither overflows nor gives NaN.
	dst := make([]float32, 3)
	Softmax(dst, []float32{1000, 1000, -1000})
	if dst[0] != 0.5 || dst[1] != 0.5 || dst[2] != 0 {
		t.Errorf("softmax of huge logits: %v", dst)
	}
	if Argmax([]float32{1, float32(math.NaN()), 3}) != 1 || Argmax(nil) != -1 || Argmax([]float32{2, 5, 5}) != 1 {
		t.Error("Argmax does not follow numpy")
	}
}

// TestClassifyFixedBatch: a model whose batch dimension is fixed gets exactly
// that many images per call, the last call padded.
func TestClassifyFixedBatch(t *testing.T) {
	f := newFake(nil, 4)
	c, err := NewClassifier(fakeModel(t, f), Options{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize() != 4 {
		t.Errorf("batch size %d, want the model's 4", c.BatchSize())
	}
	preds, err := c.Classify(context.Background(), []Gray{imageWithRow(0, 9), imageWithRow(0, 0, 9), imageWithRow(0, 0, 0, 0, 0, 9), imageWithRow(9), imageWithRow(0, 0, 0, 9), imageWithRow(0, 0, 0, 0, 0, 0, 9)})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, p := range preds {
		got += fmt.Sprint(p.Index)
	}
	if got != "125036" || fmt.Sprint(f.runs) != "[4 4]" {
		t.Errorf("classes %s runs %v, want 125036 in [4 4]", got, f.runs)
	}
}

func TestNewClassifierErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		meta  map[string]string
		want  error
		msg   string
		batch int64
	}{
		{"text model", map[string]string{"task": "text-generation"}, ErrNotImageModel, `fake.onnx: not an image-classification model: its metadata task is "text-generation", want "image-classification"`, -1},
		{"no task", map[string]string{"task": ""}, ErrNotImageModel, `its metadata task is "(none)"`, -1},
		{"unknown input", map[string]string{"input": "pixels"}, model.ErrBadModel, `fake.onnx: bad model: metadata input "pixels" is not an input of the model (inputs: x)`, -1},
		{"unknown output", map[string]string{"output": "scores"}, model.ErrBadModel, `metadata output "scores" is not an output of the model (outputs: scores)`, -1},
		{"labels", map[string]string{"labels": `["a","b"]`}, model.ErrBadModel, `metadata lists 2 labels, output probs float32[?,10] has 10 classes`, -1},
		{"size", map[string]string{"image_width": "32"}, model.ErrBadModel, `metadata image_width 32 does not match input x float32[?,28,28]`, -1},
	} {
		f := newFake(c.meta, c.batch)
		if c.name == "unknown output" {
			f.sig.Outputs[0].Name = "scores"
			f.meta["output"] = "missing"
			c.msg = `metadata output "missing" is not an output of the model (outputs: scores)`
		}
		_, err := NewClassifier(fakeModel(t, f), Options{})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want %v saying %q", c.name, err, c.want, c.msg)
		}
	}
	// An input of another rank (a scalar too) or with 3 channels is refused, not a panic.
	for _, shape := range []model.Shape{{}, {-1}, {-1, 28}, {-1, 3, 28, 28}, {-1, 28, 28, 3}, {-1, 1, 28, 28, 1}} {
		f := newFake(nil, -1)
		f.sig.Inputs[0].Shape = shape
		_, err := NewClassifier(fakeModel(t, f), Options{})
		if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), "want shape [batch, height, width]") {
			t.Errorf("input shape %v: %v", shape, err)
		}
	}
	// Images of the wrong size are refused, naming the image.
	c, err := NewClassifier(fakeModel(t, newFake(nil, -1)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Classify(context.Background(), []Gray{NewGray(28, 28), NewGray(20, 28)})
	if !errors.Is(err, ErrBadSize) || err.Error() != "image 1: wrong image size: 20x28, the model takes 28x28" {
		t.Errorf("wrong size: %v", err)
	}
	_, err = c.Classify(context.Background(), []Gray{{Width: 28, Height: 28, Pix: make([]uint8, 10)}})
	if !errors.Is(err, ErrBadPixels) {
		t.Errorf("short Pix: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Classify(ctx, []Gray{NewGray(28, 28)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestClassifyConcurrent: one classifier used from many goroutines at once
// gives every goroutine the same answers (run with -race).
func TestClassifyConcurrent(t *testing.T) {
	c, err := NewClassifier(fakeModel(t, newFake(nil, -1)), Options{BatchSize: 16, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	images := make([]Gray, 100)
	for i := range images {
		images[i] = imageWithRow(make([]uint8, i%10)...)
		images[i].Pix[i%10] = uint8(i)
	}
	want, err := c.Classify(context.Background(), images)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Classify(context.Background(), images)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range got {
				if got[i].Index != want[i].Index || got[i].Prob != want[i].Prob {
					t.Errorf("image %d: %+v, want %+v", i, got[i], want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
