package textgen_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// plainRefs is a refs JSON of scripts/plain-models.py: the vocabulary, the
// prompt, the framework's greedy text and its first last-step output.
type plainRefs struct {
	Vocab  []string  `json:"vocab"`
	Prompt string    `json:"prompt"`
	Text   string    `json:"text"`
	Last   []float32 `json:"last"`
}

// plainDir is the folder scripts/plain-models.sh exports into (it does the
// export when the cache lacks it, as make test does first).
func plainDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/plain-models.sh").Output()
	if err != nil {
		t.Fatalf("scripts/plain-models.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TensorFlow's text-generation tutorial as plain exports (Keras 3's
// model.export and SavedModel + tf2onnx): int64 ids, a Loop-held GRU, logits
// for every step, a StringLookup vocabulary with "[UNK]" at 0, no metadata.
// The last-step logits after the prompt and the greedy text of 200
// characters equal Keras' own, on both backends (the framework's loop runs
// the whole text from the zero state: a window longer than the text).
func TestPlainEmbedGRUMatchesKeras(t *testing.T) {
	dir := plainDir(t)
	for _, route := range []string{"keras", "tf2onnx"} {
		var refs plainRefs
		data, err := os.ReadFile(filepath.Join(dir, route+"_embed_gru.refs.json"))
		if err == nil {
			err = json.Unmarshal(data, &refs)
		}
		if err != nil {
			t.Fatal(err)
		}
		vocab, err := textgen.NewVocab(refs.Vocab, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, backend := range []string{"native", "onnx"} {
			t.Run(route+"/"+backend, func(t *testing.T) {
				g := tokenGenerator(t, filepath.Join(dir, route+"_embed_gru.onnx"), backend,
					textgen.Options{Vocab: vocab, Mode: textgen.ModeWindowed, Window: 1000})
				if g.Encoding() != textgen.EncodingTokenIDs || !g.Logits() {
					t.Fatalf("encoding %s, logits %v", g.Encoding(), g.Logits())
				}
				ids, err := vocab.Encode(refs.Prompt)
				if err != nil {
					t.Fatal(err)
				}
				cur, err := g.Open(context.Background(), ids)
				if err != nil {
					t.Fatal(err)
				}
				defer cur.Close()
				var worst float64
				for i, want := range refs.Last {
					worst = max(worst, math.Abs(float64(cur.Next()[i]-want)))
				}
				if worst > 1e-4 {
					t.Errorf("last-step logits differ from Keras' by up to %g", worst)
				}
				got := text(t, g, textgen.Request{Prompt: refs.Prompt, MaxLength: len([]rune(refs.Text))})
				if got != refs.Text {
					t.Fatalf("greedy text\n got %q\nwant %q", got, refs.Text)
				}
				t.Logf("logits within %.2g, %d characters equal", worst, len([]rune(got)))
			})
		}
	}
}
