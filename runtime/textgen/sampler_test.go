package textgen

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// chiSquare returns Pearson's statistic of counts against expected probabilities q.
func chiSquare(counts []int, q []float64, n int) float64 {
	var chi float64
	for i, c := range counts {
		e := q[i] * float64(n)
		if e == 0 {
			if c != 0 {
				return math.Inf(1)
			}
			continue
		}
		chi += (float64(c) - e) * (float64(c) - e) / e
	}
	return chi
}

// tutorialDistribution is the tutorial's sample() before its draw:
// exp(log(p)/T), renormalised.
func tutorialDistribution(p []float32, T float64) []float64 {
	q := make([]float64, len(p))
	var s float64
	for i, x := range p {
		q[i] = math.Exp(math.Log(float64(x)) / T)
		s += q[i]
	}
	for i := range q {
		q[i] /= s
	}
	return q
}

// The empirical frequencies at several temperatures match the tutorial's
// distribution: a chi-square test with 5 degrees of freedom at p = 1e-4
// (critical value 25.7), with fixed seeds so it is repeatable.
func TestSamplerMatchesTutorialDistribution(t *testing.T) {
	p := []float32{0.5, 0.2, 0.15, 0.1, 0.04, 0.01}
	const n = 200000
	for _, T := range []float64{0.2, 0.6, 1.0, 1.2, 2.0} {
		s, err := NewSampler(Params{Temperature: T, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, len(p))
		for range n {
			i, err := s.Sample(p)
			if err != nil {
				t.Fatal(err)
			}
			counts[i]++
		}
		q := tutorialDistribution(p, T)
		if chi := chiSquare(counts, q, n); chi > 25.7 {
			t.Errorf("T=%v: chi-square %.1f > 25.7; counts %v, expected %v", T, chi, counts, q)
		}
	}
}

func TestSamplerTopKTopP(t *testing.T) {
	p := []float32{0.1, 0.4, 0.05, 0.3, 0.15}
	const n = 100000
	cases := []struct {
		name string
		prm  Params
		want []float64
	}{
		// top-2 keeps indices 1 and 3 (0.4, 0.3), renormalised.
		{"top-k 2", Params{Temperature: 1, TopK: 2}, []float64{0, 4.0 / 7, 0, 3.0 / 7, 0}},
		// top-p 0.8 keeps 0.4+0.3+0.15 = 0.85 >= 0.8.
		{"top-p 0.8", Params{Temperature: 1, TopP: 0.8}, []float64{0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85}},
		// top-p 0.4 keeps only the most likely.
		{"top-p 0.4", Params{Temperature: 1, TopP: 0.4}, []float64{0, 1, 0, 0, 0}},
	}
	for _, c := range cases {
		c.prm.Seed = 7
		s, err := NewSampler(c.prm)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, len(p))
		for range n {
			i, err := s.Sample(p)
			if err != nil {
				t.Fatal(err)
			}
			counts[i]++
		}
		if chi := chiSquare(counts, c.want, n); chi > 25.7 {
			t.Errorf("%s: chi-square %.1f; counts %v, expected %v", c.name, chi, counts, c.want)
		}
	}
}

func TestSamplerGreedyAndSeed(t *testing.T) {
	p := []float32{0.1, 0.2, 0.6, 0.1}
	s, _ := NewSampler(Params{})
	for range 100 {
		if i, _ := s.Sample(p); i != 2 {
			t.Fatalf("greedy picked %d, want 2", i)
		}
	}
	draw := func(seed uint64) []int {
		s, _ := NewSampler(Params{Temperature: 1, Seed: seed})
		var out []int
		for range 50 {
			i, _ := s.Sample(p)
			out = append(out, i)
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	if !equalInts(a, b) {
		t.Fatalf("the same seed gave different draws: %v vs %v", a, b)
	}
	if equalInts(a, c) {
		t.Fatalf("different seeds gave identical draws %v", a)
	}
	// Logits give the same draws as their softmax.
	logits := make([]float32, len(p))
	for i, x := range p {
		logits[i] = float32(math.Log(float64(x))) + 3
	}
	s1, _ := NewSampler(Params{Temperature: 0.7, Seed: 9})
	s2, _ := NewSampler(Params{Temperature: 0.7, Seed: 9})
	for range 200 {
		i, _ := s1.Sample(p)
		j, _ := s2.SampleLogits(logits)
		if i != j {
			t.Fatalf("probabilities and logits disagree: %d vs %d", i, j)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSamplerRejectsBadValues(t *testing.T) {
	for _, p := range []Params{
		{Temperature: -0.1}, {Temperature: math.NaN()}, {Temperature: math.Inf(1)},
		{TopK: -1}, {TopP: -0.5}, {TopP: 1.5}, {TopP: math.NaN()},
	} {
		if _, err := NewSampler(p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%+v: got %v, want ErrInvalidParams", p, err)
		}
	}
	// What a user gives goes through Validate: an explicit top-p 0 is refused,
	// naming the parameter; the Go zero value of a Params is read as top-p 1.
	err := Params{Temperature: 1, TopP: 0}.Validate()
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Name != "top-p" || pe.Detail() != "top-p 0: must be in (0, 1]" {
		t.Errorf("Validate of top-p 0: %v", err)
	}
	if _, err := NewSampler(Params{Temperature: 1}); err != nil {
		t.Errorf("NewSampler of the zero top-p: %v", err)
	}
	if err := (Request{Stop: make([]string, MaxStops+1)}).Validate(); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("too many stop strings: %v", err)
	}
	s, _ := NewSampler(Params{Temperature: 1})
	for _, probs := range [][]float32{{0.5, float32(math.NaN())}, {0.5, -0.1}, {0, 0}, {}} {
		if _, err := s.Sample(probs); !errors.Is(err, ErrBadDistribution) {
			t.Errorf("%v: got %v, want ErrBadDistribution", probs, err)
		}
	}
}

func TestSamplerAllocatesNothing(t *testing.T) {
	p := make([]float32, 70)
	for i := range p {
		p[i] = 1.0 / 70
	}
	for _, prm := range []Params{{Temperature: 1.2}, {Temperature: 1}, {Temperature: 0.8, TopK: 10, TopP: 0.9}, {Temperature: 0.8, TopP: 0.9}, {}} {
		s, _ := NewSampler(prm)
		s.Sample(p)
		if n := testing.AllocsPerRun(200, func() { s.Sample(p) }); n != 0 {
			t.Errorf("%+v: %v allocations per sample, want 0", prm, n)
		}
	}
}

// The insertion route of byWeight.first (k small) gives exactly the first k
// of the full stable order by descending weight, ties by index, for every k,
// on weights with many ties.
func TestFirstKEqualsStableSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n := 1 + r.IntN(90)
		w := make([]float64, n)
		for i := range w {
			w[i] = float64(r.IntN(1 + trial%9)) // trial%9 == 0: all equal
		}
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		sort.SliceStable(want, func(a, b int) bool { return w[want[a]] > w[want[b]] })
		for k := 1; k <= n; k++ {
			b := byWeight{w: w, idx: make([]int, n)}
			got := b.first(k)
			if !slices.Equal(got, want[:k]) {
				t.Fatalf("n=%d k=%d weights %v: first %v, stable sort %v", n, k, w, got, want[:k])
			}
		}
	}
}
