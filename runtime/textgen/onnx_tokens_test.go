package textgen_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// tokenGraph is a real ONNX token-id model over V entries: ids int64 [b, t]
// -> Gather from an embedding table of rows one-hot rows -> MatMul by a
// permutation -> logits [b, t, V] favouring id+1; the state h [b, V] passes
// through (h -> h_out), so it runs stateful. fixed > 0 fixes the time axis.
func tokenGraph(t *testing.T, V, rows int, fixed int64) string {
	emb := make([]float32, rows*V)
	for i := range min(rows, V) {
		emb[i*V+i] = 1
	}
	perm := make([]float32, V*V)
	for i := range V {
		perm[i*V+(i+1)%V] = 10
	}
	T := int64(-1)
	if fixed > 0 {
		T = fixed
	}
	g := &onnxpb.GraphProto{
		Name: new(string),
		Node: []*onnxpb.NodeProto{
			onnxtest.Node("Gather", "embed", []string{"E", "ids"}, []string{"e"}),
			onnxtest.Node("MatMul", "head", []string{"e", "P"}, []string{"logits"}),
			onnxtest.Node("Identity", "state", []string{"h"}, []string{"h_out"}),
		},
		Initializer: []*onnxpb.TensorProto{
			onnxtest.Floats("E", []int64{int64(rows), int64(V)}, emb),
			onnxtest.Floats("P", []int64{int64(V), int64(V)}, perm),
		},
		Input: []*onnxpb.ValueInfoProto{
			onnxtest.ValueInfo("ids", onnxpb.TensorProto_INT64, -1, T),
			onnxtest.ValueInfo("h", onnxpb.TensorProto_FLOAT, -1, int64(V)),
		},
		Output: []*onnxpb.ValueInfoProto{
			onnxtest.ValueInfo("logits", onnxpb.TensorProto_FLOAT, -1, T, int64(V)),
			onnxtest.ValueInfo("h_out", onnxpb.TensorProto_FLOAT, -1, int64(V)),
		},
	}
	return onnxtest.WriteModel(t, "tokens.onnx", g, 17)
}

var letters = []string{"[UNK]", "a", "b", "c", "d", "e", "f", "g"}

func tokenGenerator(t *testing.T, path, backend string, opts textgen.Options) *textgen.Generator {
	t.Helper()
	m, err := model.Open(context.Background(), path, model.Options{Backend: backend})
	if err != nil {
		t.Skipf("%s backend: %v", backend, err)
	}
	t.Cleanup(func() { m.Close() })
	if opts.Vocab == nil {
		if opts.Vocab, err = textgen.NewVocab(letters, ""); err != nil {
			t.Fatal(err)
		}
	}
	g, err := textgen.New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// On real backends, a token-id model with per-step logits and no metadata
// generates the same greedy text stateful, windowed and batched ("[UNK]"
// after "g" masked), and one generated step allocates nothing.
func TestTokenModelOnBackends(t *testing.T) {
	for _, backend := range []string{"native", "onnx"} {
		t.Run(backend, func(t *testing.T) {
			const want = "bcdefgabcdefga"
			req := textgen.Request{Prompt: "a", MaxLength: len(want)}
			stateful := tokenGenerator(t, tokenGraph(t, 8, 8, 0), backend, textgen.Options{})
			if stateful.Mode() != textgen.ModeStateful || !stateful.Logits() || stateful.Encoding() != textgen.EncodingTokenIDs {
				t.Fatalf("mode %v, logits %v, encoding %s", stateful.Mode(), stateful.Logits(), stateful.Encoding())
			}
			if got := text(t, stateful, req); got != want {
				t.Fatalf("stateful %q, want %q", got, want)
			}
			b, err := textgen.NewBatcher(stateful, textgen.BatcherOptions{MaxBatch: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := text(t, b, req); got != want {
				t.Fatalf("batched %q, want %q", got, want)
			}
			fixed := tokenGenerator(t, tokenGraph(t, 8, 8, 5), backend, textgen.Options{})
			if fixed.Mode() != textgen.ModeWindowed || fixed.Window() != 5 {
				t.Fatalf("fixed window: mode %v window %d", fixed.Mode(), fixed.Window())
			}
			if got := text(t, fixed, req); got != want {
				t.Fatalf("windowed %q, want %q", got, want)
			}
			for _, g := range []*textgen.Generator{stateful, fixed} {
				checkStepAllocs(t, g)
			}
		})
	}
}

// checkStepAllocs pins one generated step (Feed) at zero allocations.
func checkStepAllocs(t *testing.T, g *textgen.Generator) {
	t.Helper()
	ctx := context.Background()
	prompt, _ := g.Vocab().Encode("abcdef")
	cur, err := g.Open(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	for range 8 { // reach the full window first
		cur.Feed(ctx, 3)
	}
	if n := testing.AllocsPerRun(50, func() { cur.Feed(ctx, 3) }); n != 0 {
		t.Errorf("%s %s %s: %v allocations per step, want 0", g.Model().BackendName(), g.Encoding(), g.Mode(), n)
	}
}

// An embedding table with fewer rows than the vocabulary has entries fails at
// load on either backend, naming both sizes.
func TestTokenModelRangeOnBackends(t *testing.T) {
	for _, backend := range []string{"native", "onnx"} {
		t.Run(backend, func(t *testing.T) {
			m, err := model.Open(context.Background(), tokenGraph(t, 8, 5, 0), model.Options{Backend: backend})
			if err != nil {
				t.Skipf("%s backend: %v", backend, err)
			}
			defer m.Close()
			v, _ := textgen.NewVocab(letters, "")
			_, err = textgen.New(m, textgen.Options{Vocab: v})
			if !errors.Is(err, textgen.ErrTokenRange) || !strings.Contains(err.Error(), "8 entries (ids 0 to 7)") || !strings.Contains(err.Error(), "5") {
				t.Fatalf("embedding of 5 rows, vocabulary of 8: %v", err)
			}
			t.Log(err)
		})
	}
}

// A one-hot step on the shipped char models allocates nothing either, stateful and windowed.
func TestOneHotStepAllocatesNothing(t *testing.T) {
	checkStepAllocs(t, generator(t, open(t, "char.onnx"), textgen.ModeStateful))
	checkStepAllocs(t, generator(t, open(t, "char_window.onnx"), textgen.ModeWindowed))
}
