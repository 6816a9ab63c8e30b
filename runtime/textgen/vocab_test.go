package textgen

import (
	"errors"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
)

func TestVocabEncodeDecode(t *testing.T) {
	v, err := NewVocab([]string{"\n", " ", "a", "b", "é"}, "preserve")
	if err != nil {
		t.Fatal(err)
	}
	idx, err := v.Encode("ab é\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 3, 1, 4, 0}; !equalInts(idx, want) {
		t.Fatalf("Encode = %v, want %v", idx, want)
	}
	if got := v.Decode(idx); got != "ab é\n" {
		t.Fatalf("Decode = %q", got)
	}
	_, err = v.Encode("abXa")
	var uc *UnknownCharError
	if !errors.As(err, &uc) || uc.Char != 'X' || uc.Pos != 2 || !errors.Is(err, ErrUnknownChar) {
		t.Fatalf("unknown char error = %v", err)
	}
	if !strings.Contains(err.Error(), `'X' at position 2`) {
		t.Fatalf("error does not name the character and position: %v", err)
	}
	v.Unknown = UnknownSkip
	if idx, _ := v.Encode("aXb"); !equalInts(idx, []int{2, 3}) {
		t.Fatalf("skip: %v", idx)
	}
	v.Unknown = UnknownReplace
	if idx, _ := v.Encode("aXb"); !equalInts(idx, []int{2, 1, 3}) {
		t.Fatalf("replace: %v", idx)
	}
}

func TestVocabCasePolicy(t *testing.T) {
	v, _ := NewVocab([]string{"a", "b"}, "lower")
	if idx, err := v.Encode("AbB"); err != nil || !equalInts(idx, []int{0, 1, 1}) {
		t.Fatalf("lower: %v %v", idx, err)
	}
	p, _ := NewVocab([]string{"a", "b"}, "preserve")
	if _, err := p.Encode("A"); err == nil {
		t.Fatal("preserve accepted an upper-case character missing from the vocabulary")
	}
}

func TestVocabRejectsBadEntries(t *testing.T) {
	for _, entries := range [][]string{nil, {""}, {"[UNK]", ""}, {"a", "a"}, {"a", "\xff"}} {
		if _, err := NewVocab(entries, ""); err == nil {
			t.Errorf("%q accepted", entries)
		}
	}
	if _, err := NewVocab([]string{"a"}, "upper"); err == nil {
		t.Error("unknown case policy accepted")
	}
}

func TestOneHot(t *testing.T) {
	v, _ := NewVocab([]string{"a", "b", "c"}, "")
	dst := []float32{9, 9, 9, 9, 9, 9}
	v.OneHot(dst, []int{2, 0})
	want := []float32{0, 0, 1, 1, 0, 0}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("OneHot = %v, want %v", dst, want)
		}
	}
}

func TestStopper(t *testing.T) {
	cases := []struct {
		stops  []string
		pieces string
		emit   string
		stop   bool
	}{
		{nil, "hello", "hello", false},
		{[]string{"\n\n"}, "ab\ncd\n\nef", "ab\ncd", true},
		{[]string{"END"}, "xxENxEND", "xxENx", true},
		{[]string{"END"}, "xxEN", "xxEN", false}, // held back, then flushed
		{[]string{"ab", "bc"}, "zbc", "z", true},
	}
	for _, c := range cases {
		got, stopped := feedStopper(c.stops, c.pieces)
		if got != c.emit || stopped != c.stop {
			t.Errorf("stops %q on %q: emitted %q stop=%v, want %q stop=%v", c.stops, c.pieces, got, stopped, c.emit, c.stop)
		}
	}
}

// A piece that cannot start a stop string, with nothing held back, passes
// through the stopper without an allocation (the per-character path of every
// request with stop strings); one that is held back and then continued does
// the concatenation only.
func TestStopperAllocatesNothingForPlainPieces(t *testing.T) {
	p := newStopper([]string{"\n\n", "END"})
	if n := testing.AllocsPerRun(100, func() {
		if out, stop := p.push("a"); out != "a" || stop {
			t.Fatalf("push(a) = %q, %v", out, stop)
		}
	}); n != 0 {
		t.Errorf("%v allocations per plain piece, want 0", n)
	}
	if out, _ := p.push("\n"); out != "" {
		t.Fatalf("a newline is held back, got %q", out)
	}
	if out, stop := p.push("x"); out != "\nx" || stop {
		t.Fatalf("held newline then x: %q, %v", out, stop)
	}
}

// A token vocabulary splits text by greedy longest match; a StringLookup
// vocabulary's "[UNK]" and "" are special: never matched by text, "[UNK]"
// standing in for unknown characters under the replace policy.
func TestTokenVocab(t *testing.T) {
	v, err := NewVocab([]string{"[UNK]", "the", " ", "ca", "cat", "t", "h", "e", "[UNK]x"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Chars() {
		t.Fatal("a vocabulary with words reads as a character vocabulary")
	}
	cases := map[string][]int{"the cat": {1, 2, 4}, "thecat": {1, 4}, "cate": {4, 7}, "ca t": {3, 2, 5}, "[UNK]x": {8}}
	for text, want := range cases {
		if got, err := v.Encode(text); err != nil || !equalInts(got, want) {
			t.Errorf("Encode(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	if got := v.Decode([]int{1, 2, 4, 0}); got != "the cat" {
		t.Errorf("Decode = %q", got)
	}
	_, err = v.Encode("the dog")
	var uc *UnknownCharError
	if !errors.As(err, &uc) || uc.Char != 'd' || uc.Pos != 4 {
		t.Fatalf("unknown character: %v", err)
	}
	r := v.WithUnknown(UnknownReplace)
	if got, _ := r.Encode("t!e"); !equalInts(got, []int{5, 0, 7}) || r.Replacement() != 0 {
		t.Fatalf("replace: %v (replacement %d)", got, r.Replacement())
	}
	if got, _ := v.WithUnknown(UnknownSkip).Encode("t!e"); !equalInts(got, []int{5, 7}) {
		t.Fatalf("skip: %v", got)
	}
	if _, ok := v.ID("[UNK]"); ok {
		t.Fatal("ID found the special [UNK]")
	}
	c, _ := NewVocab([]string{"", "[UNK]", "a", "b"}, "")
	if !c.Chars() || !equalInts(c.Special(), []int{0, 1}) {
		t.Fatalf("StringLookup character vocabulary: chars %v, special %v", c.Chars(), c.Special())
	}
}

// An encoding registered with RegisterEncoder is one a model's metadata may
// declare: the metadata layer passes the name through and textgen alone
// checks it against its registry.
func TestRegisteredEncodingIsDeclarable(t *testing.T) {
	const name = "test_ids"
	md, err := model.ParseMetadata(map[string]string{"input_encoding": name})
	if err != nil || md.InputEncoding != name {
		t.Fatalf("metadata declaring %q: %+v, %v", name, md.InputEncoding, err)
	}
	in := model.TensorInfo{Name: "ids", Type: model.Int64, Shape: model.Shape{-1, -1}}
	if _, err := encodingFor(in, name); err == nil || !strings.Contains(err.Error(), `input_encoding "test_ids": want one of one_hot, token_ids`) {
		t.Fatalf("unregistered %q: %v", name, err)
	}
	RegisterEncoder(name, newTokenIDs)
	t.Cleanup(func() { delete(encoders, name) })
	if got, err := encodingFor(in, name); err != nil || got != name {
		t.Fatalf("registered %q: %q, %v", name, got, err)
	}
}
