package textgen_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Every input encoding, output kind and output shape generates the same
// greedy text in every mode, alone, batched and scored window by window.
func TestEncodingsOutputsAndModes(t *testing.T) {
	for _, ids := range []string{"", "int64", "int32", "float32"} {
		for _, logits := range []bool{false, true} {
			for _, perStep := range []bool{false, true} {
				for _, shape := range []string{"stateful", "windowed", "fixed"} {
					name := fmt.Sprintf("ids=%s/logits=%v/perstep=%v/%s", ids, logits, perStep, shape)
					t.Run(name, func(t *testing.T) {
						spec := registrytest.Text(name)
						spec.IDs, spec.Logits, spec.PerStep = ids, logits, perStep
						spec.Stateful, spec.Fixed = shape == "stateful", shape == "fixed"
						checkFakeText(t, spec, ids)
					})
				}
			}
		}
	}
}

func checkFakeText(t *testing.T, spec registrytest.Spec, ids string) {
	g := generator(t, fake(t, spec), textgen.ModeAuto)
	want := map[bool]string{false: textgen.EncodingOneHot, true: textgen.EncodingTokenIDs}[ids != ""]
	if g.Encoding() != want {
		t.Fatalf("encoding %s, want %s", g.Encoding(), want)
	}
	if ids != "" && g.Logits() != spec.Logits { // token-id models infer it from their first run
		t.Fatalf("logits %v, want %v", g.Logits(), spec.Logits)
	}
	req := textgen.Request{Prompt: "ab", MaxLength: 12}
	if got := text(t, g, req); got != "cdefghabcdef" {
		t.Fatalf("greedy text %q", got)
	}
	if spec.Stateful {
		b, err := textgen.NewBatcher(g, textgen.BatcherOptions{MaxBatch: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if got := text(t, b, req); got != "cdefghabcdef" {
			t.Fatalf("batched text %q", got)
		}
		return
	}
	enc, _ := g.Vocab().Encode("abcdefgha")
	err := g.Windows(context.Background(), enc, 2, func(pos int, dist []float32) error {
		if want := (enc[pos-1] + 1) % 8; !top(dist, want) {
			t.Errorf("window before %d: %v, want the top at %d", pos, dist, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func top(dist []float32, want int) bool {
	for i, x := range dist {
		if i != want && x >= dist[want] {
			return false
		}
	}
	return true
}

// An empty prompt starts from a newline in every mode, as the stateful path did.
func TestEmptyPromptStartsFromNewline(t *testing.T) {
	for _, shape := range []string{"stateful", "windowed", "fixed"} {
		spec := registrytest.Text("empty-" + shape)
		spec.Vocab = []string{"\n", "a", "b", "c"}
		spec.Stateful, spec.Fixed = shape == "stateful", shape == "fixed"
		g := generator(t, fake(t, spec), textgen.ModeAuto)
		if got := text(t, g, textgen.Request{MaxLength: 5}); got != "abc\na" {
			t.Errorf("%s (%s): empty prompt gives %q, want \"abc\\na\"", shape, g.Mode(), got)
		}
	}
}

// A StringLookup vocabulary: "[UNK]" and "" are never sampled (the fake
// predicts "" after "c": the masked logits leave "a" the most likely);
// an unknown character fails, or becomes "[UNK]" under the replace policy.
func TestSpecialEntriesMasked(t *testing.T) {
	spec := registrytest.Text("unk")
	spec.Vocab, spec.IDs, spec.Logits, spec.PerStep, spec.Fixed = []string{"[UNK]", "a", "b", "c", ""}, "int64", true, true, true
	m := fake(t, spec)
	g := generator(t, m, textgen.ModeAuto)
	if got := text(t, g, textgen.Request{Prompt: "a", MaxLength: 7}); got != "bcabcab" {
		t.Fatalf("greedy text %q, want \"bcabcab\" ([UNK] masked)", got)
	}
	for seed := range uint64(20) {
		got := text(t, g, textgen.Request{Prompt: "c", MaxLength: 30, Sampling: textgen.Params{Temperature: 2, Seed: seed}})
		if strings.Contains(got, "[UNK]") {
			t.Fatalf("seed %d sampled [UNK]: %q", seed, got)
		}
	}
	if _, _, err := g.Text(context.Background(), textgen.Request{Prompt: "ax"}); !errors.Is(err, textgen.ErrUnknownChar) {
		t.Fatalf("unknown character: %v", err)
	}
	r, err := textgen.New(m, textgen.Options{Unknown: textgen.UnknownReplace})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := r.Vocab().Encode("axb"); fmt.Sprint(ids) != "[1 0 2]" {
		t.Fatalf("replace encodes \"axb\" as %v, want [1 0 2]", ids)
	}
	if got := text(t, r, textgen.Request{Prompt: "x", MaxLength: 3}); got != "abc" {
		t.Fatalf("after an unknown character: %q, want \"abc\"", got)
	}
}

// A vocabulary whose size differs from the model's V, and token ids beyond
// the model's embedding table, are errors naming both numbers.
func TestVocabSizeAndTokenRange(t *testing.T) {
	spec := registrytest.Text("size")
	spec.IDs = "int64"
	m := fake(t, spec)
	v, err := textgen.NewVocab([]string{"a", "b", "c"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = textgen.New(m, textgen.Options{Vocab: v})
	if !errors.Is(err, textgen.ErrVocabSize) || !strings.Contains(err.Error(), "gives 8 scores") || !strings.Contains(err.Error(), "has 3 entries") {
		t.Fatalf("vocabulary of 3 for V=8: %v", err)
	}
	oneHot := fake(t, registrytest.Text("size-onehot"))
	if _, err := textgen.New(oneHot, textgen.Options{Vocab: v}); !errors.Is(err, textgen.ErrVocabSize) || !strings.Contains(err.Error(), "8 wide") || !strings.Contains(err.Error(), "has 3 entries") {
		t.Fatalf("one-hot vocabulary of 3 for V=8: %v", err)
	}
	spec.Rows, spec.Tag = 5, "rows"
	_, err = textgen.New(fake(t, spec), textgen.Options{})
	if !errors.Is(err, textgen.ErrTokenRange) || !strings.Contains(err.Error(), "8 entries (ids 0 to 7)") || !strings.Contains(err.Error(), "[0,4]") {
		t.Fatalf("embedding of 5 rows, vocabulary of 8: %v", err)
	}
	t.Log(err)
}
