package textgen_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Windowed mode on the fixed-window char_window.onnx, given the model relaxed
// (model.OpenRelaxed): while the history is shorter than the 100-character
// window, each distribution is the relaxed graph's on the whole history from
// the zero state, run here in one call of its own; from the first full
// window on, it is bit for bit what the model itself gives on that window
// (the zero-padding Generator's full-window path); every step allocates
// nothing. Native and ONNX Runtime.
func TestWindowedShortHistoryRelaxed(t *testing.T) {
	for _, backend := range []string{"native", "onnx"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			m, err := model.Open(ctx, filepath.Join(golden.ExportDir(), "char_window.onnx"), model.Options{Backend: backend})
			if err != nil {
				t.Skipf("%s backend: %v", backend, err)
			}
			defer m.Close()
			r, err := model.OpenRelaxed(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			g, err := textgen.New(m, textgen.Options{Mode: textgen.ModeWindowed, Relaxed: r})
			if err != nil {
				t.Fatal(err)
			}
			padded := generator(t, m, textgen.ModeWindowed)
			if g.ShortHistory() != textgen.ShortRelaxed || padded.ShortHistory() != textgen.ShortPadded {
				t.Fatalf("short history: %q with the relaxed model, %q without", g.ShortHistory(), padded.ShortHistory())
			}
			checkRelaxedSteps(t, g, padded, r)
			checkStepAllocs(t, g) // 14 characters: inside the window
		})
	}
}

func checkRelaxedSteps(t *testing.T, g, padded *textgen.Generator, r *model.Model) {
	t.Helper()
	ctx := context.Background()
	hist, err := g.Vocab().Encode("HERMIA.\n")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := g.Open(ctx, hist)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	W, worst := g.Window(), 0.0
	for len(hist) < W+20 {
		if len(hist) < W {
			worst = max(worst, maxDiff(cur.Next(), fromZero(t, r, g.Vocab().Size(), hist)))
		} else if got, want := cur.Next(), windowDist(t, padded, hist[len(hist)-W:]); maxDiff(got, want) != 0 {
			t.Fatalf("history of %d: the full window differs from the model's own by %g", len(hist), maxDiff(got, want))
		}
		next := argmax(cur.Next())
		hist = append(hist, next)
		if err := cur.Feed(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(50, func() { cur.Feed(ctx, hist[len(hist)-1]) }); n != 0 {
		t.Errorf("%v allocations per full-window step, want 0", n)
	}
	if worst > 1e-5 {
		t.Fatalf("inside the window the distributions differ from the relaxed graph's run from zero by up to %g", worst)
	}
	t.Logf("histories of 8 to %d characters within %.2g of the relaxed graph from zero; 20 full windows equal", W-1, worst)
}

// fromZero runs the relaxed graph once on the whole history from the zero state.
func fromZero(t *testing.T, r *model.Model, V int, hist []int) []float32 {
	t.Helper()
	x := model.NewFloat32(model.Shape{1, int64(len(hist)), int64(V)}, nil)
	for i, id := range hist {
		x.Float32s()[i*V+id] = 1
	}
	md := r.Metadata()
	in := map[string]*model.Tensor{"x": x}
	for _, name := range md.StateInputs {
		in[name] = model.NewFloat32(model.Shape{1, int64(md.StateSize)}, nil)
	}
	out, err := r.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out[md.Output].Float32s()
}

// windowDist is a Generator's distribution after opening on one window.
func windowDist(t *testing.T, g *textgen.Generator, win []int) []float32 {
	t.Helper()
	cur, err := g.Open(context.Background(), win)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	return append([]float32(nil), cur.Next()...)
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}
