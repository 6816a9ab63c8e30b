package vision

import (
	"context"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rnnrun/rnnrun/runtime/internal/avx"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// DefaultBatchSize is the number of images per model call when Options.BatchSize
// is 0. With mnist.onnx on ONNX Runtime (one thread per call) batches of 32 to 64
// ran fastest, about 35,000 images/s on a 2-core machine, against about 28,000
// for 256 (BenchmarkClassify, rnnrun eval --batch-size).
const DefaultBatchSize = 64

// Options tune a Classifier. The zero value works.
type Options struct {
	// BatchSize is the number of images per model call; 0 means DefaultBatchSize.
	// A model with a fixed batch dimension always gets batches of that size
	// (the last one padded with blank images).
	BatchSize int
	// Workers is the number of batches run at once; 0 means GOMAXPROCS. With
	// a backend using n threads per call, GOMAXPROCS/n avoids oversubscription.
	Workers int
	// TopK is the number of classes in each Prediction's TopK; 0 means 1.
	// It is capped at the number of classes.
	TopK int
}

// Class is one class and its probability.
type Class struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
}

// Prediction is the classification of one image.
type Prediction struct {
	// Index is the predicted class: the first maximum of the model's output
	// (numpy's argmax), Label its label and Prob its probability.
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
	// Probs holds every class's probability (the softmax of Logits for a logits model).
	Probs []float32 `json:"probs"`
	// Logits holds the model's raw output when the model outputs logits.
	Logits []float32 `json:"logits,omitempty"`
	// TopK lists the most probable classes, most probable first (ties by index).
	TopK []Class `json:"top_k"`
}

// Classifier classifies images with an image-classification model. It is
// safe for concurrent use; it does not own the model (close the model yourself).
type Classifier struct {
	m       *model.Model
	meta    model.Metadata
	input   string
	output  string
	inShape model.Shape // with -1 in the batch position
	batch0  int         // > 0 when the model's batch dimension is fixed
	width   int
	height  int
	labels  []string
	logits  bool
	scale   [256]float32
	batch   int
	workers int
	topK    int
}

// NewClassifier checks that m is an image-classification model (metadata task,
// input [batch, height, width], [batch, height, width, 1] or [batch, 1, height,
// width] of float32, output
// [batch, classes] of float32 matching the labels) and prepares to run it.
func NewClassifier(m *model.Model, opts Options) (*Classifier, error) {
	if m == nil {
		return nil, fmt.Errorf("vision: nil model")
	}
	meta := m.Metadata()
	name := m.Path()
	if meta.Task != model.TaskImageClassification {
		task := meta.Task
		if task == "" {
			task = "(none)"
		}
		note := ""
		if why := meta.Sources["task"]; why != "" && meta.Task == "" {
			note = " (" + why + ")"
		}
		return nil, fmt.Errorf("%s: %w: its metadata task is %q, want %q%s", name, ErrNotImageModel, task, model.TaskImageClassification, note)
	}
	if opts.BatchSize < 0 || opts.Workers < 0 || opts.TopK < 0 {
		return nil, fmt.Errorf("vision: negative option (batch size %d, workers %d, top-k %d)", opts.BatchSize, opts.Workers, opts.TopK)
	}
	c := &Classifier{m: m, meta: meta, batch: opts.BatchSize, workers: opts.Workers, topK: opts.TopK}
	if c.batch == 0 {
		c.batch = DefaultBatchSize
	}
	if c.workers == 0 {
		c.workers = runtime.GOMAXPROCS(0)
	}
	sig := m.Signature()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", name, model.ErrBadModel, fmt.Sprintf(format, args...))
	}

	// Input.
	c.input = meta.Input
	if c.input == "" {
		if len(sig.Inputs) != 1 {
			return nil, bad("no metadata key \"input\" and %d inputs", len(sig.Inputs))
		}
		c.input = sig.Inputs[0].Name
	}
	in, ok := sig.Input(c.input)
	if !ok {
		return nil, bad("metadata input %q is not an input of the model (inputs: %s)", c.input, tensorNames(sig.Inputs))
	}
	if len(sig.Inputs) != 1 {
		return nil, bad("the classifier feeds one input, the model has %d (%s)", len(sig.Inputs), tensorNames(sig.Inputs))
	}
	if in.Type != model.Float32 {
		return nil, bad("input %s: element type %s, want float32", in, in.Type)
	}
	var hw model.Shape // [height, width]
	chw := false       // [batch, 1, height, width]: the same bytes as [batch, height, width]
	switch {
	case len(in.Shape) == 3, len(in.Shape) == 4 && (in.Shape[3] == 1 || in.Shape[3] < 0):
		hw = in.Shape[1:3]
	case len(in.Shape) == 4 && in.Shape[1] == 1:
		hw, chw = in.Shape[2:4], true
	default:
		return nil, bad("input %s: want shape [batch, height, width], [batch, height, width, 1] or [batch, 1, height, width]", in)
	}
	c.height, c.width = meta.ImageHeight, meta.ImageWidth
	for _, d := range []struct {
		key string
		v   *int
		dim int64
	}{{"image_height", &c.height, hw[0]}, {"image_width", &c.width, hw[1]}} {
		switch {
		case *d.v == 0 && d.dim > 0:
			*d.v = int(d.dim)
		case *d.v == 0:
			return nil, bad("input %s has a dynamic image size and metadata key %q is missing", in, d.key)
		case d.dim > 0 && int64(*d.v) != d.dim:
			return nil, bad("metadata %s %d does not match input %s", d.key, *d.v, in)
		}
	}
	c.inShape = append(model.Shape{-1}, int64(c.height), int64(c.width))
	switch {
	case chw:
		c.inShape = model.Shape{-1, 1, int64(c.height), int64(c.width)}
	case len(in.Shape) == 4:
		c.inShape = append(c.inShape, 1)
	}
	if in.Shape[0] > 0 {
		c.batch0 = int(in.Shape[0])
		c.batch = c.batch0
	}

	// Output.
	c.output = meta.Output
	if c.output == "" {
		if len(sig.Outputs) != 1 {
			return nil, bad("no metadata key \"output\" and %d outputs", len(sig.Outputs))
		}
		c.output = sig.Outputs[0].Name
	}
	out, ok := sig.Output(c.output)
	if !ok {
		return nil, bad("metadata output %q is not an output of the model (outputs: %s)", c.output, tensorNames(sig.Outputs))
	}
	if out.Type != model.Float32 {
		return nil, bad("output %s: element type %s, want float32", out, out.Type)
	}
	if len(out.Shape) != 2 {
		return nil, bad("output %s: want shape [batch, classes]", out)
	}
	c.labels = meta.Labels
	switch {
	case len(c.labels) == 0 && out.Shape[1] > 0:
		for i := range int(out.Shape[1]) {
			c.labels = append(c.labels, strconv.Itoa(i))
		}
	case len(c.labels) == 0:
		return nil, bad("output %s has a dynamic class count and metadata key \"labels\" is missing", out)
	case out.Shape[1] > 0 && int64(len(c.labels)) != out.Shape[1]:
		return nil, bad("metadata lists %d labels, output %s has %d classes", len(c.labels), out, out.Shape[1])
	}
	c.logits = meta.OutputKind == model.OutputLogits
	if c.topK == 0 {
		c.topK = 1
	}
	c.topK = min(c.topK, len(c.labels))

	// Scaling: x = (pixel - mean) / std in float32, each step rounded to float32.
	for p := range c.scale {
		d := float32(float32(p) - meta.InputMean)
		c.scale[p] = float32(d / meta.InputStd)
	}
	return c, nil
}

func tensorNames(list []model.TensorInfo) string {
	s := ""
	for i, t := range list {
		if i > 0 {
			s += ", "
		}
		s += t.Name
	}
	return s
}

// Model returns the model the classifier runs.
func (c *Classifier) Model() *model.Model { return c.m }

// Labels returns the class labels, in output order.
func (c *Classifier) Labels() []string { return append([]string(nil), c.labels...) }

// Size returns the image width and height the model takes.
func (c *Classifier) Size() (width, height int) { return c.width, c.height }

// BatchSize returns the number of images per model call.
func (c *Classifier) BatchSize() int { return c.batch }

// Logits reports whether the model outputs logits (and the classifier applies a softmax).
func (c *Classifier) Logits() bool { return c.logits }

// Scale returns the model input for a pixel value: (pixel - input_mean) / input_std in float32.
func (c *Classifier) Scale(pixel uint8) float32 { return c.scale[pixel] }

// PreprocessOptions returns the preprocessing options for the model's size and ink.
func (c *Classifier) PreprocessOptions() PreprocessOptions {
	o := PreprocessOptionsFor(c.meta)
	o.Width, o.Height = c.width, c.height
	return o
}

// Prepare preprocesses a picture for the model (see Preprocess).
func (c *Classifier) Prepare(img image.Image) (Gray, error) {
	return Preprocess(img, c.PreprocessOptions())
}

// Check reports whether img can be fed to the model as is.
func (c *Classifier) Check(img Gray) error {
	if err := img.Validate(); err != nil {
		return err
	}
	if img.Width != c.width || img.Height != c.height {
		return fmt.Errorf("%w: %dx%d, the model takes %dx%d", ErrBadSize, img.Width, img.Height, c.width, c.height)
	}
	return nil
}

// ClassifyOne classifies a single image.
func (c *Classifier) ClassifyOne(ctx context.Context, img Gray) (Prediction, error) {
	p, err := c.Classify(ctx, []Gray{img})
	if err != nil {
		return Prediction{}, err
	}
	return p[0], nil
}

// Classify classifies images that have the model's size and ink convention
// (see Prepare for other pictures), in batches, and returns one Prediction per
// image in order. Results do not depend on the order or batching of the images.
func (c *Classifier) Classify(ctx context.Context, images []Gray) ([]Prediction, error) {
	return c.classify(ctx, images, nil)
}

// classify runs the batches on c.workers goroutines; progress, if set, is
// called (serially) with the number of images each finished batch held.
func (c *Classifier) classify(ctx context.Context, images []Gray, progress func(n int)) ([]Prediction, error) {
	for i, img := range images {
		if err := c.Check(img); err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	preds := make([]Prediction, len(images))
	if len(images) == 0 {
		return preds, nil
	}
	nb := (len(images) + c.batch - 1) / c.batch
	workers := min(c.workers, nb)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		progMu   sync.Mutex
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, c.batch*c.width*c.height)
			for {
				b := int(next.Add(1) - 1)
				if b >= nb || runCtx.Err() != nil {
					return
				}
				lo, hi := b*c.batch, min(len(images), (b+1)*c.batch)
				if err := c.runBatch(runCtx, x, images[lo:hi], preds[lo:hi]); err != nil {
					errOnce.Do(func() {
						if hi-lo == 1 {
							firstErr = fmt.Errorf("image %d: %w", lo, err)
						} else {
							firstErr = fmt.Errorf("images %d..%d: %w", lo, hi-1, err)
						}
					})
					cancel()
					return
				}
				if progress != nil {
					progMu.Lock()
					progress(hi - lo)
					progMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return preds, nil
}

// runBatch scales images into x, runs the model once and fills preds.
func (c *Classifier) runBatch(ctx context.Context, x []float32, images []Gray, preds []Prediction) error {
	n := len(images)
	rows := n
	if c.batch0 > 0 {
		rows = c.batch0 // pad a fixed-size batch
	}
	size := c.width * c.height
	x = x[:rows*size]
	for i, img := range images {
		dst := x[i*size : (i+1)*size]
		for j, p := range img.Pix {
			dst[j] = c.scale[p]
		}
	}
	for j := n * size; j < len(x); j++ {
		x[j] = c.scale[0]
	}
	shape := append(model.Shape{int64(rows)}, c.inShape[1:]...)
	outs, err := c.m.Run(ctx, map[string]*model.Tensor{c.input: model.NewFloat32(shape, x)})
	if err != nil {
		return err
	}
	t, ok := outs[c.output]
	if !ok {
		return fmt.Errorf("%s: the model returned no output %q", filepath.Base(c.m.Path()), c.output)
	}
	data := t.Float32s()
	classes := len(c.labels)
	if data == nil || len(t.Shape) != 2 || t.Shape[0] != int64(rows) || t.Shape[1] != int64(classes) || len(data) != rows*classes {
		return fmt.Errorf("%s: output %q is %s%v, want float32[%d,%d]", filepath.Base(c.m.Path()), c.output, t.DType(), t.Shape, rows, classes)
	}
	for i := range preds {
		preds[i] = c.predict(data[i*classes : (i+1)*classes])
	}
	return nil
}

// predict turns one row of model output into a Prediction.
func (c *Classifier) predict(row []float32) Prediction {
	p := Prediction{Index: Argmax(row), Probs: make([]float32, len(row))}
	if c.logits {
		p.Logits = append([]float32(nil), row...)
		Softmax(p.Probs, row)
	} else {
		copy(p.Probs, row)
	}
	p.Label = c.labels[p.Index]
	p.Prob = p.Probs[p.Index]
	order := make([]int, len(row))
	for i := range order {
		order[i] = i
	}
	// Most probable first by the model's own output (so TopK[0] is Index), ties by index.
	sort.SliceStable(order, func(a, b int) bool { return greater(row[order[a]], row[order[b]]) })
	p.TopK = make([]Class, c.topK)
	for i := range p.TopK {
		k := order[i]
		p.TopK[i] = Class{Index: k, Label: c.labels[k], Prob: p.Probs[k]}
	}
	return p
}

// greater orders values for ranking, NaN first (as numpy's argmax treats NaN as the maximum).
func greater(a, b float32) bool {
	an, bn := a != a, b != b
	if an || bn {
		return an && !bn
	}
	return a > b
}

// Argmax returns the index of the first maximum of v, as numpy's argmax
// (a NaN counts as the maximum); -1 for an empty slice.
func Argmax(v []float32) int {
	if len(v) == 0 {
		return -1
	}
	best := 0
	for i := 1; i < len(v); i++ {
		if greater(v[i], v[best]) {
			best = i
		}
	}
	return best
}

// Softmax writes the softmax of logits into dst (same length), computed in
// float64 from the maximum down, so it neither overflows nor loses precision.
func Softmax(dst, logits []float32) {
	if len(logits) == 0 {
		return
	}
	m := float64(logits[Argmax(logits)])
	var sum float64
	e := make([]float64, len(logits))
	avx.ClearUpper() // math.Exp: see package avx
	for i, l := range logits {
		e[i] = math.Exp(float64(l) - m)
		sum += e[i]
	}
	for i := range dst {
		dst[i] = float32(e[i] / sum)
	}
}
