package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rnnrun/rnnrun/runtime/onnxgraph"
)

// ErrCannotExpose is wrapped by OpenStateful's errors for a model whose
// recurrent state cannot be exposed.
var ErrCannotExpose = onnxgraph.ErrCannotExpose

// OpenStateful opens m's ONNX file again, with the same backend and options,
// rewritten so its recurrent state is exposed (onnxgraph.ExposeState): every
// LSTM, GRU, RNN (or Keras Loop) initial state becomes an input and every
// final state an output, listed in the synthesized metadata state_inputs,
// state_outputs and state_size, and the time dimension is dynamic. That lets a
// stateless export be stepped one character at a time. m stays open; the
// caller closes both.
func OpenStateful(ctx context.Context, m *Model) (*Model, error) {
	return openExposed(ctx, m, true)
}

// OpenRelaxed opens the same rewrite as OpenStateful, for a fixed-window
// model run windowed: fed zero states, it runs a history shorter than the
// window as it is, from the zero state (textgen.Options.Relaxed). Its errors
// wrap ErrCannotExpose likewise, without OpenStateful's advice to use
// windowed mode.
func OpenRelaxed(ctx context.Context, m *Model) (*Model, error) {
	return openExposed(ctx, m, false)
}

// openExposed is OpenStateful, whose errors advise windowed mode when stateful is set.
func openExposed(ctx context.Context, m *Model, stateful bool) (*Model, error) {
	base := filepath.Base(m.path)
	hint := ""
	if stateful {
		hint = "; use --mode windowed"
	}
	if len(m.meta.StateInputs) > 0 {
		return nil, fmt.Errorf("%w: %s already has state inputs %v", ErrCannotExpose, base, m.meta.StateInputs)
	}
	st, err := os.Stat(m.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if st.IsDir() && !stateful {
		return nil, fmt.Errorf("%w: %s is a SavedModel, and only an ONNX graph can be rewritten", ErrCannotExpose, base)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a SavedModel, and only an ONNX graph can be rewritten to step statefully: export it to ONNX (tf2onnx, or Keras' model.export(path, format=\"onnx\")) and give that file, or use --mode windowed", ErrCannotExpose, base)
	}
	data := m.opts.Data
	if data == nil {
		if data, err = os.ReadFile(m.path); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
		}
	}
	out, _, err := onnxgraph.ExposeState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", base, err, hint)
	}
	opts := m.opts
	opts.Backend, opts.Data = m.backend, out
	s, err := Open(ctx, m.path, opts)
	if err != nil {
		return nil, fmt.Errorf("%s with its state exposed: %w%s", base, err, hint)
	}
	return s, nil
}
