package textgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// DefaultMaxBatch is the largest number of streams a Batcher steps in one call
// when BatcherOptions.MaxBatch is 0.
const DefaultMaxBatch = 256

// BatcherOptions configure a Batcher. The zero value works.
type BatcherOptions struct {
	// MaxBatch caps the streams stepped together in one shard; more wait for a free slot.
	MaxBatch int
	// Shards is the number of independent batches, each stepped by its own
	// goroutine with one model call per step for all its streams; a new
	// stream joins the shard with the fewest. 0 means 1: every active stream
	// in one call. With one intra-op thread per call, one shard per core lets
	// the batches run on all cores at once.
	Shards int
}

// Batcher runs many generation streams of one stateful model together: each
// step is one model call for every active stream, streams join and leave
// between steps, and each keeps its own sampler, seed and LSTM state. A stream's
// text equals what Generator.Generate gives for the same request (the
// model's rows are independent; only float rounding of batched kernels could
// differ). Safe for concurrent use; Close stops it.
type Batcher struct {
	g     *Generator
	max   int
	loops []*loop

	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// job is one stream inside a Batcher.
type job struct {
	ctx     context.Context
	req     Request
	max     int
	sampler *Sampler
	stops   *stopper
	probs   []float32   // the distribution after the prompt
	state   [][]float32 // the state after the prompt, one slice per state input
	out     outbox
	stats   Stats       // written by the loop; read after out is finished
	err     error       // likewise
	left    atomic.Bool // the consumer stopped reading (emit failed)
}

// outbox carries a stream's text from its shard's goroutine to the caller
// without ever blocking the shard: text accumulates while the caller is busy,
// and the caller takes everything pending at each wake-up.
type outbox struct {
	mu   sync.Mutex
	buf  []byte
	done bool
	wake chan struct{} // capacity 1
}

func (o *outbox) put(s string) {
	o.mu.Lock()
	o.buf = append(o.buf, s...)
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) finish() {
	o.mu.Lock()
	o.done = true
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take waits for text or the end and returns what is pending.
func (o *outbox) take() (string, bool) {
	<-o.wake
	o.mu.Lock()
	defer o.mu.Unlock()
	text := string(o.buf)
	o.buf = o.buf[:0]
	return text, o.done
}

func (j *job) consumerGone() { j.left.Store(true) }
func (j *job) gone() bool    { return j.left.Load() }

// ErrBatcherClosed is returned by Generate after Close.
var ErrBatcherClosed = errors.New("batcher closed")

// NewBatcher starts a Batcher for a stateful Generator.
func NewBatcher(g *Generator, opts BatcherOptions) (*Batcher, error) {
	if g.mode != ModeStateful {
		return nil, fmt.Errorf("%w: batching needs a stateful model; %s runs %s", ErrInvalidMode, g.m.Path(), g.mode)
	}
	b := &Batcher{g: g, max: opts.MaxBatch, quit: make(chan struct{})}
	if b.max <= 0 {
		b.max = DefaultMaxBatch
	}
	shards := max(opts.Shards, 1)
	for range shards {
		b.loops = append(b.loops, newLoop(b))
	}
	b.wg.Add(shards)
	for _, l := range b.loops {
		go l.run()
	}
	return b, nil
}

// shard picks the loop with the fewest streams.
func (b *Batcher) shard() *loop {
	best := b.loops[0]
	for _, l := range b.loops[1:] {
		if l.load.Load() < best.load.Load() {
			best = l
		}
	}
	return best
}

// Close stops the Batcher: running streams end with ErrBatcherClosed, and the
// model bindings are released. It does not close the model.
func (b *Batcher) Close() error {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
	return nil
}

// Generate runs one request as a stream of the batch, with the semantics of
// Generator.Generate.
func (b *Batcher) Generate(ctx context.Context, req Request, emit func(string) error) (Stats, error) {
	start := time.Now()
	g := b.g
	prompt, err := req.check(g.vocab)
	if err != nil {
		return Stats{}, err
	}
	smp, err := NewSampler(req.Sampling)
	if err != nil {
		return Stats{}, err
	}
	j := &job{ctx: ctx, req: req, max: req.MaxLength, sampler: smp, stops: newStopper(req.Stop)}
	if j.max == 0 {
		j.max = DefaultLength
	}
	j.stats = Stats{Mode: "batched", PromptChars: len(prompt), StopReason: StopLength}
	// Prime in the caller's goroutine: one call over the whole prompt.
	s, err := g.newStream(ctx, prompt)
	if err != nil {
		return j.stats, err
	}
	j.probs = append([]float32(nil), s.probs.Float32s()...)
	for _, t := range s.a {
		j.state = append(j.state, append([]float32(nil), t.Float32s()...))
	}
	s.close()
	j.out.wake = make(chan struct{}, 1)
	l := b.shard()
	l.load.Add(1)
	select {
	case l.join <- j:
	case <-b.quit:
		l.load.Add(-1)
		return j.stats, ErrBatcherClosed
	case <-ctx.Done():
		l.load.Add(-1)
		return j.stats, ctx.Err()
	}
	var emitErr error
	for {
		text, done := j.out.take()
		if text != "" && emitErr == nil {
			if emitErr = emit(text); emitErr != nil {
				j.cancelByConsumer()
			}
		}
		if done {
			break
		}
	}
	j.stats = g.finish(j.stats, start)
	if emitErr != nil {
		return j.stats, emitErr
	}
	return j.stats, j.err
}

// cancelByConsumer is called when emit fails: the loop drops the job on its next step.
func (j *job) cancelByConsumer() { j.consumerGone() }

// loop owns one shard's batch: its tensors, bindings and active jobs.
type loop struct {
	b     *Batcher
	join  chan *job
	load  atomic.Int64 // streams assigned to this shard and not yet finished
	V     int          // vocabulary size
	jobs  []*job
	x     []float32      // [max, 1, V]
	probs []float32      // [max, V]
	st    [2][][]float32 // ping-pong state buffers, per state input: [max * width]
	width []int          // width of each state input's row
	cur   int            // which of st holds the current state
	bind  map[int]*[2]model.Binding
}

func newLoop(b *Batcher) *loop {
	g := b.g
	l := &loop{b: b, join: make(chan *job), V: g.vocab.Size(), bind: map[int]*[2]model.Binding{}}
	l.x = make([]float32, b.max*l.V)
	l.probs = make([]float32, b.max*l.V)
	for _, shape := range g.state {
		w := int(shape.Size()) // batch dimension is 1 in g.state
		l.width = append(l.width, w)
		for k := range 2 {
			l.st[k] = append(l.st[k], make([]float32, b.max*w))
		}
	}
	return l
}

// binding returns the two ping-pong bindings for a batch of n rows.
func (l *loop) binding(n int) (*[2]model.Binding, error) {
	if p, ok := l.bind[n]; ok {
		return p, nil
	}
	g := l.b.g
	x := &model.Tensor{Shape: model.Shape{int64(n), 1, int64(l.V)}, Data: l.x[:n*l.V]}
	probs := &model.Tensor{Shape: model.Shape{int64(n), int64(l.V)}, Data: l.probs[:n*l.V]}
	var pair [2]model.Binding
	for k := range 2 {
		in := map[string]*model.Tensor{g.input: x}
		out := map[string]*model.Tensor{g.output: probs}
		for i, shape := range g.state {
			rowShape := append(model.Shape{int64(n)}, shape[1:]...)
			w := l.width[i]
			in[g.stateIn[i]] = &model.Tensor{Shape: rowShape, Data: l.st[k][i][:n*w]}
			out[g.stateOut[i]] = &model.Tensor{Shape: rowShape, Data: l.st[1-k][i][:n*w]}
		}
		bd, err := g.m.Bind(in, out)
		if err != nil {
			if k == 1 {
				pair[0].Close()
			}
			return nil, err
		}
		pair[k] = bd
	}
	l.bind[n] = &pair
	return &pair, nil
}

func (l *loop) closeBindings() {
	for _, p := range l.bind {
		p[0].Close()
		p[1].Close()
	}
	l.bind = nil
}

// add places a primed job in the next free row.
func (l *loop) add(j *job) {
	r := len(l.jobs)
	l.jobs = append(l.jobs, j)
	copy(l.probs[r*l.V:(r+1)*l.V], j.probs)
	for i, w := range l.width {
		copy(l.st[l.cur][i][r*w:(r+1)*w], j.state[i])
	}
	j.probs, j.state = nil, nil
}

// remove ends the job in row r and moves the last row into its place.
func (l *loop) remove(r int, err error) {
	j := l.jobs[r]
	if err != nil && j.err == nil {
		j.err = err
	}
	if rest := j.stops.flush(); rest != "" && j.err == nil {
		j.out.put(rest)
	}
	l.load.Add(-1)
	j.out.finish()
	last := len(l.jobs) - 1
	if r != last {
		l.jobs[r] = l.jobs[last]
		copy(l.probs[r*l.V:(r+1)*l.V], l.probs[last*l.V:(last+1)*l.V])
		copy(l.x[r*l.V:(r+1)*l.V], l.x[last*l.V:(last+1)*l.V])
		for i, w := range l.width {
			s := l.st[l.cur][i]
			copy(s[r*w:(r+1)*w], s[last*w:(last+1)*w])
		}
	}
	l.jobs[last] = nil
	l.jobs = l.jobs[:last]
}

func (l *loop) run() {
	defer l.b.wg.Done()
	defer l.closeBindings()
	ctx := context.Background()
	for {
		// Wait for work when idle; otherwise take whoever is waiting, up to the cap.
		if len(l.jobs) == 0 {
			select {
			case j := <-l.join:
				l.add(j)
			case <-l.b.quit:
				return
			}
		}
	drain:
		for len(l.jobs) < l.b.max {
			select {
			case j := <-l.join:
				l.add(j)
			default:
				break drain
			}
		}
		select {
		case <-l.b.quit:
			for len(l.jobs) > 0 {
				l.remove(len(l.jobs)-1, ErrBatcherClosed)
			}
			return
		default:
		}
		l.sampleAll()
		if len(l.jobs) == 0 {
			continue
		}
		n := len(l.jobs)
		pair, err := l.binding(n)
		if err == nil {
			err = pair[l.cur].Run(ctx)
		}
		if err != nil {
			for len(l.jobs) > 0 {
				l.remove(len(l.jobs)-1, err)
			}
			continue
		}
		l.cur = 1 - l.cur
	}
}

// sampleAll draws the next character of every job, emits it, and prepares
// x for the next step; finished jobs leave the batch.
func (l *loop) sampleAll() {
	g := l.b.g
	for r := 0; r < len(l.jobs); {
		j := l.jobs[r]
		if err := j.ctx.Err(); err != nil {
			j.stats.StopReason = StopCancelled
			l.remove(r, err)
			continue
		}
		if j.gone() {
			l.remove(r, nil)
			continue
		}
		row := l.probs[r*l.V : (r+1)*l.V]
		var idx int
		var err error
		if g.logits {
			idx, err = j.sampler.SampleLogits(row)
		} else {
			idx, err = j.sampler.Sample(row)
		}
		if err != nil {
			l.remove(r, fmt.Errorf("%s, output %q: %w", g.m.Path(), g.output, err))
			continue
		}
		j.stats.Generated++
		piece, stopped := j.stops.push(g.chars[idx])
		if piece != "" {
			j.out.put(piece)
		}
		if stopped {
			j.stats.StopReason = StopString
			l.remove(r, nil)
			continue
		}
		if j.stats.Generated >= j.max {
			l.remove(r, nil)
			continue
		}
		x := l.x[r*l.V : (r+1)*l.V]
		clear(x)
		x[idx] = 1
		r++
	}
}
