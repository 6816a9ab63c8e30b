package task

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultDecodeBudget is the server-wide budget of decoded input bytes in
// flight (images and pixel arrays) when the config leaves it out: 256 MiB.
const DefaultDecodeBudget = 256 << 20

// Budget bounds the bytes of decoded input in flight across all the
// requests of one server. A reservation beyond what is free is refused at
// once (503 with Retry-After) rather than queued, so a burst cannot hold more
// memory than the budget; one beyond the whole budget can never succeed (413).
//
// When the budget falls idle after a burst of more than releaseAfter bytes,
// the Go runtime is asked to hand its free memory back to the OS
// (debug.FreeOSMemory), at most once every releaseEvery.
type Budget struct {
	mu       sync.Mutex
	limit    int64
	used     int64
	burst    int64 // bytes reserved since the last release to the OS
	released time.Time
}

const (
	releaseAfter = 64 << 20
	releaseEvery = 2 * time.Second
)

// NewBudget makes a budget of limit bytes; limit <= 0 means DefaultDecodeBudget.
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultDecodeBudget
	}
	return &Budget{limit: limit}
}

// Limit is the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// InUse is the bytes reserved now.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// budgetError is a refused reservation.
func budgetError(status int, msg string) *APIError {
	return NewError(status, "decode_budget", msg)
}

// TryReserve takes n bytes of the budget, or fails with an APIError: 413
// when n exceeds the whole budget, 503 when it exceeds what is free now.
// release gives the bytes back; call it exactly once.
func (b *Budget) TryReserve(n int64) (release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.limit {
		return nil, budgetError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("decoding this input takes about %d bytes, more than the server's decode budget of %d bytes", n, b.limit))
	}
	if b.used+n > b.limit {
		return nil, budgetError(http.StatusServiceUnavailable,
			fmt.Sprintf("the server's decode budget (%d bytes) is in use by other requests; retry shortly", b.limit))
	}
	b.used += n
	b.burst += n
	var once sync.Once
	return func() { once.Do(func() { b.release(n) }) }, nil
}

func (b *Budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	free := b.used == 0 && b.burst > releaseAfter && time.Since(b.released) > releaseEvery
	if free {
		b.burst, b.released = 0, time.Now()
	}
	b.mu.Unlock()
	if free {
		go debug.FreeOSMemory()
	}
}

// Reserve takes n bytes of the server's decode budget for this call (no
// budget: nothing is bounded). A refusal sets Retry-After on the response.
func (c *Call) Reserve(n int64) (release func(), err error) {
	if c.Decode == nil {
		return func() {}, nil
	}
	release, err = c.Decode.TryReserve(n)
	if err != nil {
		c.W.Header().Set("Retry-After", "1")
	}
	return release, err
}
