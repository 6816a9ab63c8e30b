package generate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// NewGenerator makes m's Generator for opts.Mode, settling the mode of a
// stateless recurrent export first: stateful mode (and auto, when the
// export's time dimension is dynamic) runs it with its state exposed
// (model.OpenStateful); windowed mode, and auto on a fixed time dimension
// (the window the export was built for, as the tutorial's is), run m itself.
// Windowed on a stateless export with a fixed time dimension, a history
// shorter than the window runs as it is from the zero state through m with
// its time dimension relaxed (model.OpenRelaxed, fed zero states),
// and full windows through m itself; when the graph cannot be relaxed, such a
// history is zero-padded (Generator.ShortHistory says which, and a warning
// is logged). closeFn closes what NewGenerator opened beyond m (call it
// after the Generator's last use); it is never nil when err is.
func NewGenerator(ctx context.Context, m *model.Model, opts textgen.Options) (g *textgen.Generator, closeFn func() error, err error) {
	s, err := stateModel(ctx, m, opts.Mode)
	if err != nil {
		return nil, nil, err
	}
	if s == m {
		return windowedGenerator(ctx, m, opts)
	}
	opts.Mode = textgen.ModeStateful
	if g, err = textgen.New(s, opts); err != nil {
		s.Close()
		return nil, nil, err
	}
	return g, s.Close, nil
}

// windowedGenerator is m's own Generator, given m relaxed as opts.Relaxed
// when it is a stateless export with a fixed time dimension that may run
// windowed; when m cannot be relaxed (or its relaxed graph cannot run), the
// Generator zero-pads short histories and a warning says why.
func windowedGenerator(ctx context.Context, m *model.Model, opts textgen.Options) (*textgen.Generator, func() error, error) {
	none := func() error { return nil }
	if opts.Mode == textgen.ModeStateful || !stateless(m) || dynamicTime(m) {
		g, err := textgen.New(m, opts)
		return g, none, err
	}
	r, why := model.OpenRelaxed(ctx, m)
	if why == nil {
		o := opts
		o.Relaxed = r
		g, err := textgen.New(m, o)
		if err == nil {
			return g, r.Close, nil
		}
		r.Close()
		why = err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	g, err := textgen.New(m, opts)
	if err != nil {
		return nil, nil, err
	}
	if g.ShortHistory() == textgen.ShortPadded {
		slog.WarnContext(ctx, "windowed mode zero-pads histories shorter than the window: the graph cannot be relaxed", "model", m.Path(), "why", why)
	}
	return g, none, nil
}

// stateModel is m, or m with its recurrent state exposed when mode asks for
// (or auto chooses) stateful stepping of a stateless export.
func stateModel(ctx context.Context, m *model.Model, mode textgen.Mode) (*model.Model, error) {
	if mode == textgen.ModeWindowed || !stateless(m) {
		return m, nil
	}
	if mode == textgen.ModeAuto && !dynamicTime(m) {
		return m, nil
	}
	s, err := model.OpenStateful(ctx, m)
	switch {
	case err == nil:
		return s, nil
	case mode == textgen.ModeAuto && errors.Is(err, model.ErrCannotExpose):
		return m, nil // windowed, if the model has a window
	case errors.Is(err, model.ErrCannotExpose):
		return nil, fmt.Errorf("%w: %w", textgen.ErrInvalidMode, err)
	}
	return nil, err
}

// stateless reports whether m is a text model with no state inputs: the
// models whose state can be exposed or whose time dimension relaxed.
func stateless(m *model.Model) bool {
	return !hasState(m) && m.Metadata().Task != model.TaskImageClassification
}

// hasState reports whether m has state inputs already: named in its metadata,
// or an input N with an output N_out (textgen's convention).
func hasState(m *model.Model) bool {
	if len(m.Metadata().StateInputs) > 0 {
		return true
	}
	sig := m.Signature()
	for _, t := range sig.Inputs {
		if _, ok := sig.Output(t.Name + "_out"); ok {
			return true
		}
	}
	return false
}

// dynamicTime reports whether m's text input has a dynamic time dimension.
func dynamicTime(m *model.Model) bool {
	sig := m.Signature()
	name := m.Metadata().Input
	if name == "" && len(sig.Inputs) > 0 {
		name = sig.Inputs[0].Name
	}
	in, ok := sig.Input(name)
	return ok && len(in.Shape) >= 2 && in.Shape[1] < 0
}
