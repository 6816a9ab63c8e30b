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

// DefaultFlush is how long a stream's new text may wait in its shard before
// the caller is woken to take it, when BatcherOptions.Flush is 0.
const DefaultFlush = time.Millisecond

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
	// Flush bounds how long a stream's new text waits before its caller
	// (Generate's emit) is woken to take it: a shard hands text over at the
	// first step after Flush has passed since its last hand-over, and at once
	// when a stream ends. Waking a parked caller at every step took 11% of
	// the shard's time at 64 streams of char.onnx (about half a microsecond
	// per character), so handing over every few steps instead raises the
	// aggregate rate. 0 means DefaultFlush; a negative value hands text over
	// at every step.
	Flush time.Duration
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
	flush time.Duration
	loops []*loop

	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// job is one stream inside a Batcher.
type job struct {
	ctx     context.Context
	dec     *decoder    // owned by the loop once the job joined
	pending bool        // owned by the loop: text put since the last hand-over
	probs   []float32   // the distribution after the prompt
	state   [][]float32 // the state after the prompt, one slice per state input
	out     outbox
	err     error       // written by the loop; read after out is finished
	left    atomic.Bool // the consumer stopped reading (emit failed)
}

// outbox carries a stream's text from its shard's goroutine to the caller
// without ever blocking the shard: text accumulates while the caller is busy
// or not yet woken, and the caller takes everything pending at each wake-up.
type outbox struct {
	mu   sync.Mutex
	buf  []byte
	done bool
	wake chan struct{} // capacity 1
}

// put appends s without waking the caller: signal (or finish) does that.
func (o *outbox) put(s string) {
	o.mu.Lock()
	o.buf = append(o.buf, s...)
	o.mu.Unlock()
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

func (j *job) gone() bool { return j.left.Load() }

// ErrBatcherClosed is returned by Generate after Close.
var ErrBatcherClosed = errors.New("batcher closed")

// NewBatcher starts a Batcher for a stateful Generator.
func NewBatcher(g *Generator, opts BatcherOptions) (*Batcher, error) {
	if g.Mode() != ModeStateful {
		return nil, fmt.Errorf("%w: batching needs a stateful model; %s runs %s", ErrInvalidMode, g.Model().Path(), g.Mode())
	}
	b := &Batcher{g: g, max: opts.MaxBatch, flush: opts.Flush, quit: make(chan struct{})}
	if b.max <= 0 {
		b.max = DefaultMaxBatch
	}
	if b.flush == 0 {
		b.flush = DefaultFlush
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
	d, prompt, err := b.g.newDecoder(req, "batched")
	if err != nil {
		return Stats{}, err
	}
	j := &job{ctx: ctx, dec: d}
	j.out.wake = make(chan struct{}, 1)
	// Prime in the caller's goroutine: one call over the whole prompt.
	if j.probs, j.state, err = b.g.primed(ctx, prompt); err != nil {
		return d.finish(), err
	}
	if err := b.submit(ctx, j); err != nil {
		return d.finish(), err
	}
	var emitErr error
	for {
		text, done := j.out.take()
		if text != "" && emitErr == nil {
			if emitErr = emit(text); emitErr != nil {
				j.left.Store(true) // the loop drops the job on its next step
			}
		}
		if done {
			break
		}
	}
	if emitErr != nil {
		return d.finish(), emitErr
	}
	return d.finish(), j.err
}

// submit hands a primed job to the least loaded shard.
func (b *Batcher) submit(ctx context.Context, j *job) error {
	l := b.shard()
	l.load.Add(1)
	select {
	case l.join <- j:
		return nil
	case <-b.quit:
		l.load.Add(-1)
		return ErrBatcherClosed
	case <-ctx.Done():
		l.load.Add(-1)
		return ctx.Err()
	}
}

// loop owns one shard's batch: its tensors, bindings and active jobs.
type loop struct {
	b     *Batcher
	join  chan *job
	load  atomic.Int64 // streams assigned to this shard and not yet finished
	V     int          // vocabulary size
	jobs  []*job
	x     *model.Tensor  // the input of max rows of one step
	probs []float32      // [max, V]
	st    [2][][]float32 // ping-pong state buffers, per state input: [max * width]
	width []int          // width of each state input's row
	cur   int            // which of st holds the current state
	bind  map[int]*[2]model.Binding

	pending int       // jobs with text put since the last hand-over
	handed  time.Time // the last hand-over
}

func newLoop(b *Batcher) *loop {
	l := &loop{b: b, join: make(chan *job), V: b.g.Vocab().Size(), bind: map[int]*[2]model.Binding{}}
	l.x = b.g.enc.New(b.max, 1)
	l.probs = make([]float32, b.max*l.V)
	for _, shape := range b.g.stateShapes() {
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
	shapes := l.b.g.stateShapes()
	x := l.b.g.enc.Wrap(l.x.Data, n, 1)
	probs := l.b.g.outView(l.probs, n, 1)
	var pair [2]model.Binding
	for k := range 2 {
		from, to := make([]*model.Tensor, len(shapes)), make([]*model.Tensor, len(shapes))
		for i, shape := range shapes {
			rowShape := append(model.Shape{int64(n)}, shape[1:]...)
			w := l.width[i]
			from[i] = &model.Tensor{Shape: rowShape, Data: l.st[k][i][:n*w]}
			to[i] = &model.Tensor{Shape: rowShape, Data: l.st[1-k][i][:n*w]}
		}
		bd, err := l.b.g.bindStep(x, probs, from, to)
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
	if rest := j.dec.rest(); rest != "" && j.err == nil {
		j.out.put(rest)
	}
	if j.pending { // finish wakes the caller for everything put
		j.pending = false
		l.pending--
	}
	l.load.Add(-1)
	j.out.finish()
	last := len(l.jobs) - 1
	if r != last {
		l.jobs[r] = l.jobs[last]
		copy(l.probs[r*l.V:(r+1)*l.V], l.probs[last*l.V:(last+1)*l.V])
		l.b.g.enc.Copy(l.x, r, last)
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
		l.handOver()
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

// sampleAll draws the next character of every job, puts it in the job's
// outbox (handOver wakes the caller), and prepares x for the next step;
// finished jobs leave the batch.
func (l *loop) sampleAll() {
	for r := 0; r < len(l.jobs); {
		j := l.jobs[r]
		if j.ctx.Err() != nil {
			l.remove(r, j.dec.cancelled(j.ctx))
			continue
		}
		if j.gone() {
			l.remove(r, nil)
			continue
		}
		piece, idx, done, err := j.dec.next(l.probs[r*l.V : (r+1)*l.V])
		if piece != "" {
			j.out.put(piece)
			if !j.pending {
				j.pending = true
				l.pending++
			}
		}
		if err != nil || done {
			l.remove(r, err)
			continue
		}
		l.b.g.enc.Put(l.x, r, idx)
		r++
	}
}

// handOver wakes the callers of the jobs with new text once Flush has passed
// since the last hand-over (at every step when Flush < 0). Jobs that ended in
// between were woken by finish.
func (l *loop) handOver() {
	if l.pending == 0 {
		return
	}
	now := time.Now()
	if l.b.flush > 0 && now.Sub(l.handed) < l.b.flush {
		return
	}
	l.handed = now
	for _, j := range l.jobs {
		if j.pending {
			j.pending = false
			j.out.signal()
		}
	}
	l.pending = 0
}
