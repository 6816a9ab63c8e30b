// Package textgen generates text with character-level recurrent models: a
// Vocab that tokenizes and one-hot encodes, a Sampler (temperature, top-k,
// top-p), a Generator that steps a stateful model carrying its LSTM state or
// slides a window over a stateless one, and a Batcher that steps many streams
// in one model call.
package textgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// UnknownPolicy says what Encode does with a character the vocabulary lacks.
type UnknownPolicy int

const (
	// UnknownError fails, naming the character and its position (the default).
	UnknownError UnknownPolicy = iota
	// UnknownSkip drops the character.
	UnknownSkip
	// UnknownReplace substitutes Vocab.Replacement.
	UnknownReplace
)

// ParseUnknownPolicy reads "error", "skip" or "replace".
func ParseUnknownPolicy(s string) (UnknownPolicy, error) {
	switch s {
	case "", "error":
		return UnknownError, nil
	case "skip":
		return UnknownSkip, nil
	case "replace":
		return UnknownReplace, nil
	}
	return 0, fmt.Errorf("unknown-character policy %q: want error, skip or replace", s)
}

// ErrUnknownChar is matched by errors.Is for every *UnknownCharError.
var ErrUnknownChar = errors.New("character not in the vocabulary")

// UnknownCharError reports a character the vocabulary lacks.
type UnknownCharError struct {
	Char rune
	Pos  int // position in characters (not bytes), from 0
}

func (e *UnknownCharError) Error() string {
	return fmt.Sprintf("character %q at position %d is not in the model's vocabulary", e.Char, e.Pos)
}

// Is lets errors.Is(err, ErrUnknownChar) match.
func (e *UnknownCharError) Is(target error) bool { return target == ErrUnknownChar }

// Vocab maps characters to one-hot indices and back.
type Vocab struct {
	chars []rune
	index map[rune]int
	lower bool // lower-case text before encoding

	// Unknown is the policy for characters outside the vocabulary.
	Unknown UnknownPolicy
	// Replacement stands in for unknown characters under UnknownReplace.
	Replacement rune
}

// WithUnknown returns a copy of v that applies policy p to characters outside
// the vocabulary; v itself is unchanged (a Generator's Vocab is shared by its streams).
func (v *Vocab) WithUnknown(p UnknownPolicy) *Vocab {
	c := *v
	c.Unknown = p
	return &c
}

// NewVocab builds a vocabulary from its entries in index order; each entry must
// be exactly one character and appear once. casePolicy is "preserve" (or "")
// or "lower".
func NewVocab(entries []string, casePolicy string) (*Vocab, error) {
	if len(entries) == 0 {
		return nil, errors.New("vocabulary is empty")
	}
	v := &Vocab{chars: make([]rune, len(entries)), index: make(map[rune]int, len(entries))}
	switch casePolicy {
	case "", "preserve":
	case "lower":
		v.lower = true
	default:
		return nil, fmt.Errorf("case policy %q: want preserve or lower", casePolicy)
	}
	for i, e := range entries {
		r, size := utf8.DecodeRuneInString(e)
		if e == "" || size != len(e) || r == utf8.RuneError {
			return nil, fmt.Errorf("vocabulary entry %d (%q) is not exactly one character", i, e)
		}
		if j, dup := v.index[r]; dup {
			return nil, fmt.Errorf("vocabulary entries %d and %d are both %q", j, i, e)
		}
		v.chars[i] = r
		v.index[r] = i
	}
	if _, ok := v.index[' ']; ok {
		v.Replacement = ' '
	} else {
		v.Replacement = v.chars[0]
	}
	return v, nil
}

// VocabFromMetadata builds the vocabulary a text-generation model declares.
func VocabFromMetadata(md model.Metadata) (*Vocab, error) {
	if len(md.Vocab) == 0 {
		return nil, fmt.Errorf("%w: the model's metadata has no vocab; pass a vocabulary file (--vocab)", model.ErrBadModel)
	}
	return NewVocab(md.Vocab, md.CasePolicy)
}

// LoadVocab reads a JSON array of one-character strings (index order) from path.
func LoadVocab(path, casePolicy string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vocab file: %w", err)
	}
	var entries []string
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("vocab file %s: want a JSON array of one-character strings: %v", path, err)
	}
	v, err := NewVocab(entries, casePolicy)
	if err != nil {
		return nil, fmt.Errorf("vocab file %s: %w", path, err)
	}
	return v, nil
}

// Size is the number of characters, the width of a one-hot vector.
func (v *Vocab) Size() int { return len(v.chars) }

// Lower reports whether text is lower-cased before encoding.
func (v *Vocab) Lower() bool { return v.lower }

// Char returns the character at index i.
func (v *Vocab) Char(i int) rune { return v.chars[i] }

// Index returns the index of r (after the case policy) and whether it is known.
func (v *Vocab) Index(r rune) (int, bool) {
	if v.lower {
		r = []rune(strings.ToLower(string(r)))[0]
	}
	i, ok := v.index[r]
	return i, ok
}

// Encode turns text into indices, applying the case policy and the unknown-character policy.
func (v *Vocab) Encode(text string) ([]int, error) {
	if v.lower {
		text = strings.ToLower(text)
	}
	out := make([]int, 0, len(text))
	pos := 0
	for _, r := range text {
		i, ok := v.index[r]
		if !ok {
			switch v.Unknown {
			case UnknownSkip:
				pos++
				continue
			case UnknownReplace:
				i, ok = v.index[v.Replacement]
			}
			if !ok {
				return nil, &UnknownCharError{Char: r, Pos: pos}
			}
		}
		out = append(out, i)
		pos++
	}
	return out, nil
}

// Decode turns indices back into text.
func (v *Vocab) Decode(indices []int) string {
	var b strings.Builder
	for _, i := range indices {
		b.WriteRune(v.chars[i])
	}
	return b.String()
}

// OneHot writes the one-hot encoding of indices into dst (len(indices)*Size()
// floats, zeroed first). It allocates nothing.
func (v *Vocab) OneHot(dst []float32, indices []int) {
	clear(dst)
	n := len(v.chars)
	for t, i := range indices {
		dst[t*n+i] = 1
	}
}
