package native_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/runtime/model"
)

// Run is safe for concurrent use: goroutines calling one model with
// different inputs (and batch sizes, so the pooled frames resize) each get
// the result a lone call gives.
func TestConcurrentRun(t *testing.T) {
	m := openShipped(t, "char.onnx")
	g, err := golden.Load("char.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := make([]map[string]*model.Tensor, len(g.Cases))
	for k, c := range g.Cases {
		if want[k], err = m.Run(ctx, c.ModelInputs()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				k := (w + i) % len(g.Cases)
				out, err := m.Run(ctx, g.Cases[k].ModelInputs())
				if err != nil {
					errs <- err
					return
				}
				for name, w := range want[k] {
					if d, err := golden.MaxAbsDiff(out[name].Float32s(), w.Float32s()); err != nil || d != 0 {
						t.Errorf("case %s output %s differs under concurrency by %g (%v)", g.Cases[k].Name, name, d, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
