package textgen

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/rnnrun/rnnrun/runtime/internal/avx"
)

// Params are the sampling settings. The zero value is greedy decoding with seed 0.
type Params struct {
	// Temperature divides the log-probabilities before renormalising, as the
	// tutorial's sample() does; 0 means greedy (always the most likely character).
	Temperature float64 `json:"temperature"`
	// TopK keeps only the K most likely characters; 0 keeps all.
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of most likely characters whose probability
	// reaches P, in (0, 1]; 1 keeps all, and so does the Go zero value 0
	// (Validate, which checks what users give, rejects an explicit 0).
	TopP float64 `json:"top_p"`
	// Seed seeds the PCG generator: the same seed gives the same text.
	Seed uint64 `json:"seed"`
}

// ErrInvalidParams is wrapped by every sampling-parameter error.
var ErrInvalidParams = errors.New("invalid sampling parameter")

// ParamError names a request or sampling value that breaks its rule. It
// matches ErrInvalidParams with errors.Is.
type ParamError struct {
	Name  string // the parameter as a flag or config key spells it: "top-p", "temperature", ...
	Value any
	Rule  string // e.g. "must be in (0, 1]"
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("%v: %s %v: %s", ErrInvalidParams, e.Name, e.Value, e.Rule)
}

// Detail is the message without the ErrInvalidParams prefix: "top-p 0: must be in (0, 1]".
func (e *ParamError) Detail() string { return fmt.Sprintf("%s %v: %s", e.Name, e.Value, e.Rule) }

// Unwrap makes errors.Is(err, ErrInvalidParams) match.
func (e *ParamError) Unwrap() error { return ErrInvalidParams }

// Validate checks the values as a user gives them (a flag, a config file, a
// request body): temperature finite and >= 0 (0 is greedy), top-k >= 0 (0
// keeps all), top-p in (0, 1]. It is the one rule the CLI, the config and the
// server apply. In Go, a Params whose TopP is left 0 is read as 1 by
// NewSampler and Generate (the zero value keeps all); an explicit 0 from a
// user fails Validate.
func (p Params) Validate() error {
	switch {
	case math.IsNaN(p.Temperature) || math.IsInf(p.Temperature, 0) || p.Temperature < 0:
		return &ParamError{"temperature", p.Temperature, "must be a finite number >= 0 (0 is greedy)"}
	case p.TopK < 0:
		return &ParamError{"top-k", p.TopK, "must be >= 0 (0 keeps all)"}
	case math.IsNaN(p.TopP) || p.TopP <= 0 || p.TopP > 1:
		return &ParamError{"top-p", p.TopP, "must be in (0, 1]"}
	}
	return nil
}

// orDefault reads the Go zero value of TopP as 1 (keep all).
func (p Params) orDefault() Params {
	if p.TopP == 0 {
		p.TopP = 1
	}
	return p
}

// Sampler draws one index from a distribution: top-k, then temperature and
// renormalisation, then top-p, then one multinomial draw; temperature 0 is the
// argmax. It reuses its buffers, so Sample allocates nothing. Not safe for
// concurrent use: give each stream its own.
type Sampler struct {
	p     Params
	rng   *rand.Rand
	w     []float64 // weights, by index
	order byWeight  // indices sorted by weight, for top-k and top-p
}

// NewSampler validates p (a TopP of 0 is read as 1) and seeds the generator.
func NewSampler(p Params) (*Sampler, error) {
	p = p.orDefault()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}, nil
}

// Params returns the sampler's settings.
func (s *Sampler) Params() Params { return s.p }

// ErrBadDistribution is wrapped when the model's output cannot be sampled.
var ErrBadDistribution = errors.New("bad distribution")

// Sample draws an index from probabilities (non-negative, summing to about 1).
func (s *Sampler) Sample(probs []float32) (int, error) { return s.sample(probs, false) }

// SampleLogits draws an index from unnormalised log-probabilities.
func (s *Sampler) SampleLogits(logits []float32) (int, error) { return s.sample(logits, true) }

func (s *Sampler) sample(v []float32, logits bool) (int, error) {
	n := len(v)
	if n == 0 {
		return 0, fmt.Errorf("%w: empty distribution", ErrBadDistribution)
	}
	if cap(s.w) < n {
		s.w = make([]float64, n)
		s.order.idx = make([]int, n)
	}
	w := s.w[:n]
	// Probabilities at temperature 1 are their own weights: exp((log p - max) / 1)
	// is p / max p, and sampling needs weights only up to a common factor. This
	// skips a log and an exp per entry in the common case of the per-character loop.
	plain := !logits && s.p.Temperature == 1
	if plain && (s.p.TopK <= 0 || s.p.TopK >= n) && !(s.p.TopP > 0 && s.p.TopP < 1) {
		return s.samplePlain(v)
	}
	// Log-probabilities (or the probabilities themselves when plain), checked.
	maxLog, best := math.Inf(-1), -1
	for i, x := range v {
		f := float64(x)
		if math.IsNaN(f) || (!logits && f < 0) || math.IsInf(f, 1) {
			return 0, fmt.Errorf("%w: value %v at index %d", ErrBadDistribution, x, i)
		}
		if !logits && !plain {
			f = math.Log(f)
		}
		w[i] = f
		if f > maxLog {
			maxLog, best = f, i
		}
	}
	if best < 0 || (plain && maxLog <= 0) {
		return 0, fmt.Errorf("%w: every probability is zero", ErrBadDistribution)
	}
	if s.p.Temperature == 0 {
		return best, nil
	}
	// Temperature and renormalisation: exp((log p - max) / T).
	if !plain {
		avx.ClearUpper() // math.Exp: see package avx
		for i := range w {
			w[i] = math.Exp((w[i] - maxLog) / s.p.Temperature)
		}
	}
	k := n
	if s.p.TopK > 0 && s.p.TopK < n {
		k = s.p.TopK
	}
	if k < n || (s.p.TopP > 0 && s.p.TopP < 1) {
		return s.sampleSorted(w, k), nil
	}
	var total float64
	for _, x := range w {
		total += x
	}
	return draw(w, s.rng.Float64()*total, best), nil
}

// samplePlain draws from probabilities at temperature 1 without top-k or
// top-p in two passes over v: one that checks each value and sums them, one
// that walks the cumulative mass (the same sums, in the same order, as the
// general path, so the same draws).
func (s *Sampler) samplePlain(v []float32) (int, error) {
	var total float64
	maxP, best := 0.0, -1
	for i, x := range v {
		f := float64(x)
		if !(f >= 0 && f <= math.MaxFloat64) { // NaN, negative or +Inf
			return 0, fmt.Errorf("%w: value %v at index %d", ErrBadDistribution, x, i)
		}
		total += f
		if f > maxP {
			maxP, best = f, i
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: every probability is zero", ErrBadDistribution)
	}
	return draw(v, s.rng.Float64()*total, best), nil
}

// draw walks the cumulative mass of w to u (a uniform draw times the total)
// and returns where it passes u; best (the most likely index) when rounding
// left u at or just above 0 after the last weight.
func draw[T float32 | float64](w []T, u float64, best int) int {
	for i, x := range w {
		u -= float64(x)
		if u < 0 {
			return i
		}
	}
	return best
}

// sampleSorted applies top-k and top-p on the weights sorted in descending order.
func (s *Sampler) sampleSorted(w []float64, k int) int {
	s.order.w = w
	idx := s.order.first(k)
	s.order.w = nil
	var total float64
	for _, i := range idx {
		total += w[i]
	}
	if p := s.p.TopP; p > 0 && p < 1 {
		var cum float64
		for j, i := range idx {
			cum += w[i]
			if cum/total >= p-1e-6 { // float32 inputs: a mass of 0.4 must reach top-p 0.4
				idx = idx[:j+1]
				total = cum
				break
			}
		}
	}
	u := s.rng.Float64() * total
	for _, i := range idx {
		u -= w[i]
		if u < 0 {
			return i
		}
	}
	return idx[0]
}

// byWeight orders indices by descending weight, ties by index: a total order,
// so pdqsort (slices.SortFunc) gives the order a stable sort by weight gives,
// 2 to 3x faster on 70 weights.
type byWeight struct {
	w   []float64
	idx []int
}

// first returns the k indices of the k largest weights in order: by
// insertion into a sorted prefix when k is a small part of the weights, else
// by sorting them all. Both give the first k of the one order.
func (b *byWeight) first(k int) []int {
	n := len(b.w)
	if k*4 < n {
		idx := b.idx[:0]
		for i := range n {
			if len(idx) == k && b.compare(i, idx[k-1]) >= 0 {
				continue // not above the k-th so far (ties go to the lower index)
			}
			if len(idx) < k {
				idx = append(idx, i)
			} else {
				idx[k-1] = i
			}
			for j := len(idx) - 1; j > 0 && b.compare(idx[j], idx[j-1]) < 0; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		return idx
	}
	idx := b.idx[:n]
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, b.compare)
	return idx[:k]
}

func (b *byWeight) compare(i, j int) int {
	switch wi, wj := b.w[i], b.w[j]; {
	case wi > wj:
		return -1
	case wi < wj:
		return 1
	}
	return cmp.Compare(i, j)
}
