// Package textgen generates text with recurrent models over characters or
// tokens: a Vocab that tokenizes, an Encoder that writes ids into the model's
// input (one-hot vectors or token ids), a Sampler (temperature, top-k,
// top-p), a Generator that steps a stateful model carrying its LSTM state or
// slides a window over a stateless one, and a Batcher that steps many streams
// in one model call.
package textgen

import (
	"errors"
	"fmt"
	"slices"
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

// Special vocabulary entries: never sampled, and never produced by encoding
// except "[UNK]" standing in for an unknown character under UnknownReplace.
// They are what Keras' StringLookup puts first: "[UNK]" (the OOV token) and ""
// (the mask token, when the layer has one).
const (
	UnknownToken = "[UNK]"
	MaskToken    = ""
)

// Vocab maps text to token ids and back. Its entries are single characters
// (a character vocabulary: one id per character) or longer tokens (words,
// subwords: text is split by greedy longest match, see Encode), plus the
// special entries "[UNK]" and "".
type Vocab struct {
	tokens  []string
	index   map[string]int
	chars   bool  // every ordinary entry is one character
	longest int   // bytes in the longest ordinary entry
	special []int // ids of "[UNK]" and "", never sampled
	unk     int   // id of "[UNK]", or -1
	lower   bool  // lower-case text before encoding
	replace int   // id standing in for an unknown character under UnknownReplace

	// Unknown is the policy for characters outside the vocabulary.
	Unknown UnknownPolicy
}

// WithUnknown returns a copy of v that applies policy p to characters outside
// the vocabulary; v itself is unchanged (a Generator's Vocab is shared by its streams).
func (v *Vocab) WithUnknown(p UnknownPolicy) *Vocab {
	c := *v
	c.Unknown = p
	return &c
}

// NewVocab builds a vocabulary from its entries in index order. An entry is
// one character, a longer token, or one of the specials "[UNK]" and ""; each
// appears once, and at least one is ordinary. casePolicy is "preserve" (or
// "") or "lower".
func NewVocab(entries []string, casePolicy string) (*Vocab, error) {
	if len(entries) == 0 {
		return nil, errors.New("vocabulary is empty")
	}
	v := &Vocab{tokens: entries, index: make(map[string]int, len(entries)), chars: true, unk: -1, replace: -1}
	switch casePolicy {
	case "", "preserve":
	case "lower":
		v.lower = true
	default:
		return nil, fmt.Errorf("case policy %q: want preserve or lower", casePolicy)
	}
	for i, e := range entries {
		if !utf8.ValidString(e) {
			return nil, fmt.Errorf("vocabulary entry %d (%q) is not valid UTF-8", i, e)
		}
		if j, dup := v.index[e]; dup {
			return nil, fmt.Errorf("vocabulary entries %d and %d are both %q", j, i, e)
		}
		v.index[e] = i
		switch e {
		case UnknownToken:
			v.unk = i
			v.special = append(v.special, i)
			continue
		case MaskToken:
			v.special = append(v.special, i)
			continue
		}
		if utf8.RuneCountInString(e) != 1 {
			v.chars = false
		}
		v.longest = max(v.longest, len(e))
	}
	if v.longest == 0 {
		return nil, fmt.Errorf("vocabulary %q has only the special entries %q and %q", entries, UnknownToken, MaskToken)
	}
	v.tokens = append([]string(nil), entries...)
	v.replace = v.unk
	if v.replace < 0 {
		v.replace = v.firstOrdinary()
		if i, ok := v.index[" "]; ok {
			v.replace = i
		}
	}
	return v, nil
}

// padID fills the steps before a short prompt in the fixed window of a
// token-id model: the mask entry "" when there is one, else "[UNK]", else a
// newline, else id 0. (A one-hot model pads with all-zero vectors instead.)
func (v *Vocab) padID() int {
	if i, ok := v.index[MaskToken]; ok {
		return i
	}
	if v.unk >= 0 {
		return v.unk
	}
	if i, ok := v.index["\n"]; ok {
		return i
	}
	return 0
}

func (v *Vocab) firstOrdinary() int {
	for i, e := range v.tokens {
		if e != UnknownToken && e != MaskToken {
			return i
		}
	}
	return -1
}

// VocabFromMetadata builds the vocabulary a text-generation model declares.
func VocabFromMetadata(md model.Metadata) (*Vocab, error) {
	if len(md.Vocab) == 0 {
		return nil, fmt.Errorf("%w: the model's metadata has no vocab; pass a vocabulary file (--vocab)", model.ErrBadModel)
	}
	return NewVocab(md.Vocab, md.CasePolicy)
}

// Size is the number of entries (specials included): the width of a
// one-hot vector and of the model's output.
func (v *Vocab) Size() int { return len(v.tokens) }

// Lower reports whether text is lower-cased before encoding.
func (v *Vocab) Lower() bool { return v.lower }

// Chars reports whether every ordinary entry is one character (a character
// vocabulary); otherwise Encode splits text by greedy longest match.
func (v *Vocab) Chars() bool { return v.chars }

// Token returns the text of entry i.
func (v *Vocab) Token(i int) string { return v.tokens[i] }

// Char returns the first character of entry i (its only one in a character
// vocabulary; utf8.RuneError for the mask entry "").
func (v *Vocab) Char(i int) rune {
	r, _ := utf8.DecodeRuneInString(v.tokens[i])
	return r
}

// Special lists the ids of the special entries ("[UNK]", ""), which are never sampled.
func (v *Vocab) Special() []int { return v.special }

// Replacement is the id that stands in for an unknown character under
// UnknownReplace: "[UNK]" when the vocabulary has it, else " ", else the
// first ordinary entry.
func (v *Vocab) Replacement() int { return v.replace }

// Index returns the id of the character r (after the case policy) and whether it is known.
func (v *Vocab) Index(r rune) (int, bool) { return v.ID(string(r)) }

// ID returns the id of an ordinary entry (after the case policy) and whether it is known.
func (v *Vocab) ID(token string) (int, bool) {
	if v.lower {
		token = strings.ToLower(token)
	}
	i, ok := v.index[token]
	if ok && (token == UnknownToken || token == MaskToken) {
		return 0, false
	}
	return i, ok
}

// Encode turns text into ids, applying the case policy and the
// unknown-character policy. A character vocabulary maps each character to its
// entry; a token vocabulary takes, at each position, the longest ordinary
// entry the text starts with (greedy longest match), and a character that
// starts no entry is unknown. Encoding never produces a special entry except
// "[UNK]" for an unknown character under UnknownReplace.
func (v *Vocab) Encode(text string) ([]int, error) {
	if v.lower {
		text = strings.ToLower(text)
	}
	out := make([]int, 0, len(text))
	pos := 0
	for len(text) > 0 {
		i, n := v.match(text)
		if n == 0 {
			r, size := utf8.DecodeRuneInString(text)
			switch v.Unknown {
			case UnknownSkip:
				text, pos = text[size:], pos+1
				continue
			case UnknownReplace:
				i, n = v.replace, size
			default:
				return nil, &UnknownCharError{Char: r, Pos: pos}
			}
		}
		out = append(out, i)
		pos += utf8.RuneCountInString(text[:n])
		text = text[n:]
	}
	return out, nil
}

// match finds the longest ordinary entry text starts with: its id and length
// in bytes, or a length of 0.
func (v *Vocab) match(text string) (int, int) {
	for n := min(v.longest, len(text)); n > 0; n-- {
		tok := text[:n]
		if i, ok := v.index[tok]; ok && tok != UnknownToken {
			return i, n
		}
	}
	return 0, 0
}

// Decode turns ids back into text (specials decode to nothing).
func (v *Vocab) Decode(ids []int) string {
	var b strings.Builder
	for _, i := range ids {
		if !slices.Contains(v.special, i) {
			b.WriteString(v.tokens[i])
		}
	}
	return b.String()
}

// OneHot writes the one-hot encoding of ids into dst (len(ids)*Size()
// floats, zeroed first). It allocates nothing.
func (v *Vocab) OneHot(dst []float32, ids []int) {
	clear(dst)
	n := len(v.tokens)
	for t, i := range ids {
		dst[t*n+i] = 1
	}
}
