package textgen

import "context"

// Cursor runs a model over a text one character at a time: after Open, and
// after each Feed, Next is the model's distribution over the next character
// (probabilities, or logits when Generator.Logits says so). It is the step
// that generation uses, for callers that read the distributions themselves
// (scoring a text, say). Not safe for concurrent use; Close releases it.
type Cursor struct{ s *stream }

// Open primes a cursor with prompt (already encoded): the whole prompt in one
// call from the zero state (stateful), or the prompt's last Window characters
// (windowed). An empty prompt is ErrEmptyPrompt in windowed mode and a newline
// in stateful mode, as in Generate.
func (g *Generator) Open(ctx context.Context, prompt []int) (*Cursor, error) {
	s, err := g.newStream(ctx, prompt)
	if err != nil {
		return nil, err
	}
	return &Cursor{s: s}, nil
}

// Next is the distribution over the next character. The slice is reused by Feed.
func (c *Cursor) Next() []float32 { return c.s.probs.Float32s() }

// Feed advances by the character idx: one step carrying the state, or the
// window slid by one and re-run.
func (c *Cursor) Feed(ctx context.Context, idx int) error { return c.s.step(ctx, idx) }

// Close releases the cursor's bindings.
func (c *Cursor) Close() { c.s.close() }

// Logits reports whether the model's output is logits rather than probabilities.
func (g *Generator) Logits() bool { return g.logits }
