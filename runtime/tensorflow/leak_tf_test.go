//go:build tensorflow && cgo

package tensorflow_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/tensorflow"
)

func liveTotal() int64 {
	var n int64
	for _, v := range tensorflow.LiveObjects() {
		n += v
	}
	return n
}

// rssKB reads the process's resident set size.
func rssKB(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// leakCycles load, run, bind and close the model; the test checks that no
// TensorFlow object outlives its Model and that memory stops growing.
const leakCycles = 50

func TestNoLeakAcrossLoadClose(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	g := loadGolden(t, "char.json")
	in := g.Cases[0].ModelInputs()
	cycle := func() {
		m, err := model.Open(context.Background(), savedModel("char"), model.Options{Backend: "tf"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Run(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		outs := map[string]*model.Tensor{}
		for name, want := range g.Cases[0].Outputs {
			outs[name] = model.NewFloat32(want.Shape, nil)
		}
		b, err := m.Bind(in, outs)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// One binding closed explicitly, one left for Model.Close.
		if _, err := m.Bind(in, outs); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// TensorFlow's process-wide caches and the C allocator's arenas grow over
	// the first cycles and then level off (docs/tensorflow.md, "Leaks").
	for range 20 {
		cycle()
	}
	runtime.GC()
	before := rssKB(t)
	for range leakCycles {
		cycle()
	}
	runtime.GC()
	after := rssKB(t)
	if live := tensorflow.LiveObjects(); liveTotal() != 0 {
		t.Fatalf("after %d load/close cycles, TensorFlow objects still alive: %v", leakCycles, live)
	}
	growth := after - before
	t.Logf("RSS %d KB -> %d KB over %d load/run/bind/close cycles (%+d KB, %.1f KB per cycle)", before, after, leakCycles, growth, float64(growth)/leakCycles)
	// The object counts above are the exact check; RSS catches leaks inside
	// TensorFlow. A leaked session, graph and variables would cost about a MB
	// per cycle; allow allocator noise but not that.
	if limit := int64(24 * 1024); growth > limit {
		t.Fatalf("RSS grew by %d KB over %d cycles (limit %d KB)", growth, leakCycles, limit)
	}
}

// Bindings run without Go allocations (the generation hot path).
func TestBindingAllocs(t *testing.T) {
	m := open(t, savedModel("char"), "tf")
	g := loadGolden(t, "char.json")
	in := g.Cases[0].ModelInputs()
	outs := map[string]*model.Tensor{}
	for name, want := range g.Cases[0].Outputs {
		outs[name] = model.NewFloat32(want.Shape, nil)
	}
	b, err := m.Bind(in, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	allocs := testing.AllocsPerRun(20, func() {
		if err := b.Run(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per bound run: %v", allocs)
	if allocs > 0 {
		t.Fatalf("bound run allocates %v times", allocs)
	}
}
