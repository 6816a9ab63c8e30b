package textgen_test

import (
	"context"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// A cursor resumed from a snapshot, on a second Generator of the same
// model, samples the same text as one generation with the same seed.
func TestSnapshotResume(t *testing.T) {
	ctx := context.Background()
	m := open(t, "char.onnx")
	g, g2 := generator(t, m, textgen.ModeAuto), generator(t, m, textgen.ModeAuto)
	req := textgen.Request{Prompt: "HERMIA.", MaxLength: 12, Sampling: textgen.Params{Temperature: 0.8, TopP: 1, Seed: 42}}
	want := text(t, g, req)

	prompt, err := g.Vocab().Encode(req.Prompt)
	if err != nil {
		t.Fatal(err)
	}
	smp, err := textgen.NewSampler(req.Sampling)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := g.Open(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	var got []rune
	for i := range req.MaxLength {
		if i%4 == 3 { // move to the other generator through a snapshot
			snap, err := cur.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			cur.Close()
			if cur, err = g2.Resume(snap); err != nil {
				t.Fatal(err)
			}
			g, g2 = g2, g
		}
		idx, err := smp.Sample(cur.Next())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, []rune(g.Vocab().Token(idx))...)
		if err := cur.Feed(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	cur.Close()
	if string(got) != want {
		t.Fatalf("resumed across snapshots %q, one generation %q", string(got), want)
	}
	// A windowed cursor has no state to keep.
	w := generator(t, open(t, "char_window.onnx"), textgen.ModeAuto)
	wc, err := w.Open(ctx, prompt)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	if _, err := wc.Snapshot(); err == nil {
		t.Fatal("a windowed cursor gave a snapshot")
	}
	if _, err := w.Resume(textgen.Snapshot{}); err == nil {
		t.Fatal("a windowed generator resumed")
	}
}
