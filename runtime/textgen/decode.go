package textgen

import (
	"context"
	"fmt"
	"math"
	"time"
)

// decoder is the step every stream takes, alone (Generator.Generate) or in a
// batch (Batcher): sample the next character from the model's distribution,
// count it, hold back what may start a stop string, and decide whether the
// stream is finished. One per stream; not safe for concurrent use.
type decoder struct {
	g       *Generator
	sampler *Sampler
	stops   *stopper
	max     int
	start   time.Time
	stats   Stats
}

// newDecoder checks req, encodes its prompt and prepares the stream's decoder.
func (g *Generator) newDecoder(req Request, mode string) (*decoder, []int, error) {
	start := time.Now()
	prompt, err := req.check(g.vocab)
	if err != nil {
		return nil, nil, err
	}
	smp, err := NewSampler(req.Sampling)
	if err != nil {
		return nil, nil, err
	}
	d := &decoder{g: g, sampler: smp, stops: newStopper(req.Stop), max: req.MaxLength, start: start,
		stats: Stats{Mode: mode, PromptChars: len(prompt), StopReason: StopLength}}
	if d.max == 0 {
		d.max = DefaultLength
	}
	return d, prompt, nil
}

// next draws the next character from probs. It returns the text that is safe
// to emit now, the character's index (to feed back to the model), and whether
// the stream is finished (its length reached, or a stop string completed).
func (d *decoder) next(probs []float32) (piece string, idx int, done bool, err error) {
	d.g.Mask(probs)
	if d.g.logits {
		idx, err = d.sampler.SampleLogits(probs)
	} else {
		idx, err = d.sampler.Sample(probs)
	}
	if err != nil {
		return "", 0, true, fmt.Errorf("%s, output %q: %w", d.g.m.Path(), d.g.output, err)
	}
	d.stats.Generated++
	piece, stopped := d.stops.push(d.g.chars[idx])
	if stopped {
		d.stats.StopReason = StopString
	}
	return piece, idx, stopped || d.stats.Generated >= d.max, nil
}

// cancelled records that ctx ended the stream and returns its error.
func (d *decoder) cancelled(ctx context.Context) error {
	d.stats.StopReason = StopCancelled
	return ctx.Err()
}

// rest is the text still held back when the stream ends.
func (d *decoder) rest() string { return d.stops.flush() }

// finish stamps the elapsed time and rate on the stats.
func (d *decoder) finish() Stats {
	st := d.stats
	st.Elapsed = time.Since(d.start)
	st.Seconds = st.Elapsed.Seconds()
	if st.Seconds > 0 {
		st.CharsPerSecond = float64(st.Generated) / st.Seconds
	}
	return st
}

// Mask takes the vocabulary's special entries ("[UNK]", "") out of a
// distribution in place, as TensorFlow's text-generation tutorial does
// before sampling: probability 0, or a logit of -Inf. It allocates nothing.
func (g *Generator) Mask(dist []float32) {
	off := float32(0)
	if g.logits {
		off = float32(math.Inf(-1))
	}
	for _, i := range g.vocab.special {
		dist[i] = off
	}
}
