// Package registrytest provides a fake model backend for tests of code built
// on the registry: model files are small JSON specs, so tests can make many
// distinct versions, slow models and corrupt files without ONNX Runtime.
//
// Register once (it is idempotent), then write specs with WriteText or
// WriteImage and configure models with Backend: registrytest.Backend.
package registrytest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Backend is the name the fake backend registers under.
const Backend = "fake"

// Spec is the content of a fake model file.
type Spec struct {
	// Task is "text-generation" or "image-classification".
	Task string `json:"task"`
	// Vocab is a text model's vocabulary. The model predicts, with
	// probability 1, the character after the last input character (cycling),
	// so greedy generation from "a" over "abc" gives "bcabc...".
	Vocab []string `json:"vocab,omitempty"`
	// Window is a text model's window length (default 4).
	Window int `json:"window,omitempty"`
	// Stateful gives a text model a state pair, h -> h_out (the one-hot of
	// the last input character), and a dynamic time axis, so it generates
	// stateful and can be batched.
	Stateful bool `json:"stateful,omitempty"`
	// IDs makes a text model take token ids [batch, time] of this element
	// type ("int64", "int32" or "float32") instead of one-hot vectors.
	IDs string `json:"ids,omitempty"`
	// Rows is the embedding table of a token-id model: an id >= Rows fails the
	// run, as an ONNX Gather does (0: as many rows as the vocabulary).
	Rows int `json:"rows,omitempty"`
	// Logits makes a text model give logits (100 for the next character, 0
	// for the others) instead of probabilities.
	Logits bool `json:"logits,omitempty"`
	// PerStep makes a text model score every step: [batch, time, V].
	PerStep bool `json:"per_step,omitempty"`
	// Fixed gives a text model a fixed time dimension of Window steps.
	Fixed bool `json:"fixed,omitempty"`
	// Class is the class an image model always predicts (of 10).
	Class int `json:"class,omitempty"`
	// Size is an image model's width and height (default 28).
	Size int `json:"size,omitempty"`
	// Delay is slept in every Run (honouring the context).
	Delay time.Duration `json:"delay,omitempty"`
	// Tag only makes files differ.
	Tag string `json:"tag,omitempty"`
	// FailRun makes every Run fail (so the registry's smoke check fails).
	FailRun bool `json:"fail_run,omitempty"`
}

var once sync.Once

// Register makes the fake backend available to model.Open.
func Register() {
	once.Do(func() { model.Register(open, Backend) })
}

// Text returns the spec of a text model over vocab (default "abcdefgh").
func Text(tag string) Spec {
	return Spec{Task: model.TaskTextGeneration, Vocab: []string{"a", "b", "c", "d", "e", "f", "g", "h"}, Tag: tag}
}

// StatefulText returns the spec of a stateful text model over "abcdefgh".
func StatefulText(tag string) Spec {
	s := Text(tag)
	s.Stateful = true
	return s
}

// Image returns the spec of an image model that always predicts class.
func Image(tag string, class int) Spec {
	return Spec{Task: model.TaskImageClassification, Class: class, Tag: tag}
}

// Write stores spec at path (atomically: a temporary file renamed over it).
func Write(path string, spec Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Closed counts the fake models closed so far (to observe draining).
var closed struct {
	sync.Mutex
	n int
}

// ClosedCount reports how many fake models have been closed.
func ClosedCount() int {
	closed.Lock()
	defer closed.Unlock()
	return closed.n
}

type backend struct {
	spec Spec
	sig  model.Signature
	meta map[string]string
}

func open(_ context.Context, path string, _ model.Options) (model.Backend, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %s is not a fake model spec: %v", model.ErrBadModel, path, err)
	}
	b := &backend{spec: s, meta: map[string]string{"task": s.Task, "input": "x", "output": "probs", "name": s.Tag}}
	switch s.Task {
	case model.TaskTextGeneration:
		if s.Window == 0 {
			s.Window = 4
			b.spec.Window = 4
		}
		v := int64(len(s.Vocab))
		vocab, _ := json.Marshal(s.Vocab)
		b.meta["vocab"] = string(vocab)
		b.meta["window_length"] = strconv.Itoa(s.Window)
		b.sig = textSignature(s)
		if s.Stateful {
			b.meta["state_inputs"], b.meta["state_outputs"] = `["h"]`, `["h_out"]`
			b.sig.Inputs = append(b.sig.Inputs, model.TensorInfo{Name: "h", Type: model.Float32, Shape: model.Shape{-1, v}})
			b.sig.Outputs = append(b.sig.Outputs, model.TensorInfo{Name: "h_out", Type: model.Float32, Shape: model.Shape{-1, v}})
		}
	case model.TaskImageClassification:
		if s.Size == 0 {
			b.spec.Size = 28
		}
		n := int64(b.spec.Size)
		b.meta["labels"] = `["0","1","2","3","4","5","6","7","8","9"]`
		b.meta["image_height"], b.meta["image_width"] = strconv.Itoa(b.spec.Size), strconv.Itoa(b.spec.Size)
		b.meta["input_mean"], b.meta["input_std"] = "0", "255"
		b.sig = model.Signature{
			Inputs:  []model.TensorInfo{{Name: "x", Type: model.Float32, Shape: model.Shape{-1, n, n}}},
			Outputs: []model.TensorInfo{{Name: "probs", Type: model.Float32, Shape: model.Shape{-1, 10}}},
		}
	default:
		return nil, fmt.Errorf("%w: %s: unknown task %q", model.ErrBadModel, path, s.Task)
	}
	return b, nil
}

// textSignature is a text model's input x and output probs.
func textSignature(s Spec) model.Signature {
	v, t := int64(len(s.Vocab)), int64(-1)
	if s.Fixed {
		t = int64(s.Window)
	}
	in := model.TensorInfo{Name: "x", Type: model.Float32, Shape: model.Shape{-1, t, v}}
	if s.IDs != "" {
		in.Type, in.Shape = map[string]model.DType{"int64": model.Int64, "int32": model.Int32, "float32": model.Float32}[s.IDs], model.Shape{-1, t}
	}
	out := model.TensorInfo{Name: "probs", Type: model.Float32, Shape: model.Shape{-1, v}}
	if s.PerStep {
		out.Shape = model.Shape{-1, t, v}
	}
	return model.Signature{Inputs: []model.TensorInfo{in}, Outputs: []model.TensorInfo{out}}
}

// ids reads a text model's input as token ids, [n][t]: one-hot vectors give
// the index of their 1 (-1 for an all-zero vector).
func (b *backend) ids(x *model.Tensor) ([][]int64, error) {
	n, t, v := x.Shape[0], x.Shape[1], int64(len(b.spec.Vocab))
	out := make([][]int64, n)
	for i := range n {
		out[i] = make([]int64, t)
		for j := range t {
			p := i*t + j
			switch d := x.Data.(type) {
			case []int64:
				out[i][j] = d[p]
			case []int32:
				out[i][j] = int64(d[p])
			case []float32:
				if b.spec.IDs != "" {
					out[i][j] = int64(d[p])
					break
				}
				out[i][j] = -1
				for k := range v {
					if d[p*v+k] == 1 {
						out[i][j] = k
					}
				}
			}
			if rows := int64(cmp.Or(b.spec.Rows, len(b.spec.Vocab))); b.spec.IDs != "" && (out[i][j] < 0 || out[i][j] >= rows) {
				return nil, fmt.Errorf("fake model %q: indices element out of data bounds, idx=%d must be within the inclusive range [0,%d]", b.spec.Tag, out[i][j], rows-1)
			}
		}
	}
	return out, nil
}

func (b *backend) Signature() model.Signature  { return b.sig }
func (b *backend) Metadata() map[string]string { return b.meta }

func (b *backend) Close() error {
	closed.Lock()
	closed.n++
	closed.Unlock()
	return nil
}

func (b *backend) Run(ctx context.Context, in map[string]*model.Tensor) (map[string]*model.Tensor, error) {
	if b.spec.Delay > 0 {
		t := time.NewTimer(b.spec.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if b.spec.FailRun {
		return nil, fmt.Errorf("fake model %q: run failed on purpose", b.spec.Tag)
	}
	x := in["x"]
	n := x.Shape[0]
	if b.spec.Task == model.TaskImageClassification {
		out := make([]float32, n*10)
		for i := range n {
			out[i*10+int64(b.spec.Class)] = 1
		}
		return map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{n, 10}, out)}, nil
	}
	ids, err := b.ids(x)
	if err != nil {
		return nil, err
	}
	v, t := int64(len(b.spec.Vocab)), x.Shape[1]
	steps := int64(1)
	if b.spec.PerStep {
		steps = t
	}
	hi := float32(1)
	if b.spec.Logits {
		hi = 100
	}
	out, h := make([]float32, n*steps*v), make([]float32, n*v)
	for i := range n {
		for j := range steps {
			last := ids[i][t-steps+j]
			out[(i*steps+j)*v+(last+1)%v] = hi
		}
		if last := ids[i][t-1]; last >= 0 {
			h[i*v+last] = 1
		}
	}
	shape := model.Shape{n, v}
	if b.spec.PerStep {
		shape = model.Shape{n, t, v}
	}
	res := map[string]*model.Tensor{"probs": model.NewFloat32(shape, out)}
	if b.spec.Stateful {
		res["h_out"] = model.NewFloat32(model.Shape{n, v}, h)
	}
	return res, nil
}
