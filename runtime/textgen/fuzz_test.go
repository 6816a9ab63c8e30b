package textgen

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// feedStopper pushes text one character at a time through a stop matcher
// and returns what it emitted (flushed at the end unless it stopped).
func feedStopper(stops []string, text string) (string, bool) {
	p := newStopper(stops)
	var out strings.Builder
	for _, r := range text {
		s, done := p.push(string(r))
		out.WriteString(s)
		if done {
			return out.String(), true
		}
	}
	out.WriteString(p.flush())
	return out.String(), false
}

// FuzzStopper: whatever the pieces, the stop matcher emits the text up to
// the first stop string (stopping there) or, with none in it, all of it.
func FuzzStopper(f *testing.F) {
	f.Add("hello world\n\nnext", "\n\n", "wor")
	f.Add("aaab", "aab", "")
	f.Add("ééé", "é", "x")
	f.Fuzz(func(t *testing.T, text, stop1, stop2 string) {
		if !utf8.ValidString(text) {
			return // generated text is pieces of whole characters
		}
		var stops []string
		for _, s := range []string{stop1, stop2} {
			if s != "" {
				stops = append(stops, s)
			}
		}
		got, stopped := feedStopper(stops, text)
		first := -1
		for _, s := range stops {
			if i := strings.Index(text, s); i >= 0 && (first < 0 || i < first) {
				first = i
			}
		}
		switch {
		case first < 0 && (stopped || got != text):
			t.Fatalf("stops %q on %q: emitted %q stopped=%v, want all of it", stops, text, got, stopped)
		case first >= 0 && (!stopped || !strings.HasPrefix(text, got)):
			t.Fatalf("stops %q on %q: emitted %q stopped=%v, want a prefix and a stop", stops, text, got, stopped)
		}
		for _, s := range stops {
			if stopped && strings.Contains(got, s) {
				t.Fatalf("stops %q on %q: the output %q holds a stop string", stops, text, got)
			}
		}
	})
}

// FuzzVocabEncode: a vocabulary from any characters encodes exactly the
// texts made of them, and decoding gives the text back.
func FuzzVocabEncode(f *testing.F) {
	f.Add("abc\n ", "cab a\n", false)
	f.Add("aA", "AaB", true)
	f.Add("é€😀", "😀é", false)
	f.Fuzz(func(t *testing.T, chars, text string, lower bool) {
		var entries []string
		seen := map[rune]bool{}
		for _, r := range chars {
			if !seen[r] {
				seen[r] = true
				entries = append(entries, string(r))
			}
		}
		policy := ""
		if lower {
			policy = "lower"
		}
		v, err := NewVocab(entries, policy)
		if err != nil {
			return // an empty or invalid vocabulary is an error, never a panic
		}
		idx, err := v.Encode(text)
		if err != nil {
			return
		}
		back := v.Decode(idx)
		if !lower && back != text {
			t.Fatalf("vocab %q: %q encodes and decodes to %q", chars, text, back)
		}
		if lower && back != strings.ToLower(text) && len(idx) != utf8.RuneCountInString(text) {
			t.Fatalf("vocab %q (lower): %q gives %q", chars, text, back)
		}
	})
}
