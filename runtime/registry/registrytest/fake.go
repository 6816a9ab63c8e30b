// Package registrytest provides a fake model backend for tests of code built
// on the registry: model files are small JSON specs, so tests can make many
// distinct versions, slow models and corrupt files without ONNX Runtime.
//
// Register once (it is idempotent), then write specs with WriteText or
// WriteImage and configure models with Backend: registrytest.Backend.
package registrytest

import (
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
		b.sig = model.Signature{
			Inputs:  []model.TensorInfo{{Name: "x", Type: model.Float32, Shape: model.Shape{-1, -1, v}}},
			Outputs: []model.TensorInfo{{Name: "probs", Type: model.Float32, Shape: model.Shape{-1, v}}},
		}
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
	v, t := x.Shape[2], x.Shape[1]
	data := x.Float32s()
	out, h := make([]float32, n*v), make([]float32, n*v)
	for i := range n {
		last := int64(-1)
		for j := range v {
			if data[(i*t+t-1)*v+j] == 1 {
				last = j
			}
		}
		out[i*v+(last+1)%v] = 1
		if last >= 0 {
			h[i*v+last] = 1
		}
	}
	res := map[string]*model.Tensor{"probs": model.NewFloat32(model.Shape{n, v}, out)}
	if b.spec.Stateful {
		res["h_out"] = model.NewFloat32(model.Shape{n, v}, h)
	}
	return res, nil
}
