package model

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// doubler is a backend that doubles its float32 input "x" into "y".
type doubler struct {
	meta    map[string]string
	running atomic.Int32
	closed  atomic.Bool
	// gate, when set, holds each Run: Run sends on entered, then waits for release.
	entered, release chan struct{}
}

func (d *doubler) Signature() Signature {
	return Signature{
		Inputs:  []TensorInfo{{Name: "x", Type: Float32, Shape: Shape{-1, 3}}},
		Outputs: []TensorInfo{{Name: "y", Type: Float32, Shape: Shape{-1, 3}}},
	}
}
func (d *doubler) Metadata() map[string]string { return d.meta }
func (d *doubler) Run(ctx context.Context, in map[string]*Tensor) (map[string]*Tensor, error) {
	d.running.Add(1)
	defer d.running.Add(-1)
	if d.closed.Load() {
		return nil, errors.New("run after close")
	}
	if d.entered != nil {
		d.entered <- struct{}{}
		<-d.release
	}
	x := in["x"].Float32s()
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = 2 * v
	}
	return map[string]*Tensor{"y": {Shape: in["x"].Shape, Data: y}}, nil
}
func (d *doubler) Close() error {
	if d.running.Load() != 0 {
		return errors.New("closed while running")
	}
	d.closed.Store(true)
	return nil
}

func TestCheckInputs(t *testing.T) {
	m, err := New("mem", "fake", &doubler{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		in   map[string]*Tensor
		want string
	}{
		{map[string]*Tensor{}, `missing input "x"`},
		{map[string]*Tensor{"x": NewFloat32(Shape{1, 3}, nil), "z": NewFloat32(Shape{1}, nil)}, `unknown input "z"`},
		{map[string]*Tensor{"x": {Shape: Shape{1, 3}, Data: []int64{1, 2, 3}}}, "element type int64, model wants float32"},
		{map[string]*Tensor{"x": NewFloat32(Shape{1, 4}, nil)}, "dimension 1 must be 3"},
		{map[string]*Tensor{"x": NewFloat32(Shape{3}, nil)}, "rank 1"},
		{map[string]*Tensor{"x": {Shape: Shape{2, 3}, Data: []float32{1}}}, "needs 6 elements, data has 1"},
	}
	for _, c := range cases {
		_, err := m.Run(ctx, c.in)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want ErrBadInput containing %q", err, c.want)
		}
	}
	out, err := m.Run(ctx, map[string]*Tensor{"x": NewFloat32(Shape{1, 3}, []float32{1, 2, 3})})
	if err != nil || out["y"].Float32s()[2] != 6 {
		t.Fatalf("run: %v %v", out, err)
	}
}

// A copying binding serves backends without native ones; Close waits for
// running calls and makes later calls fail cleanly.
func TestBindAndClose(t *testing.T) {
	d := &doubler{}
	m, _ := New("mem", "fake", d)
	x := NewFloat32(Shape{1, 3}, []float32{1, 2, 3})
	y := NewFloat32(Shape{1, 3}, nil)
	b, err := m.Bind(map[string]*Tensor{"x": x}, map[string]*Tensor{"y": y})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(context.Background()); err != nil || y.Float32s()[1] != 4 {
		t.Fatalf("bound run: %v %v", y.Float32s(), err)
	}
	if _, err := m.Bind(map[string]*Tensor{"x": x}, map[string]*Tensor{"nope": y}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("unknown output: %v", err)
	}
	d.entered, d.release = make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { _, err := m.Run(context.Background(), map[string]*Tensor{"x": x}); done <- err }()
	<-d.entered // the call is inside the backend
	closed := make(chan error)
	go func() { closed <- m.Close() }()
	// Close must wait for the running call: until it does, it has not returned.
	for m.mu.TryRLock() { // a waiting writer makes TryRLock fail
		m.mu.RUnlock()
		select {
		case err := <-closed:
			t.Fatalf("Close returned while a call was running: %v", err)
		default:
			runtime.Gosched()
		}
	}
	close(d.release)
	if err := <-done; err != nil {
		t.Fatalf("the running call failed: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err) // the doubler fails a Close during a Run
	}
	if _, err := m.Run(context.Background(), map[string]*Tensor{"x": x}); !errors.Is(err, ErrClosed) {
		t.Fatalf("run after close: %v", err)
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("binding after close: %v", err)
	}
	if err := b.Close(); err != nil || m.Close() != nil {
		t.Fatal("closing twice must be harmless")
	}
}

func TestParseMetadata(t *testing.T) {
	md, err := ParseMetadata(map[string]string{
		"task": "text-generation", "vocab": `["a","b"]`, "window_length": "100",
		"state_inputs": `["h","c"]`, "state_outputs": `["h_out","c_out"]`, "input_std": "255", "extra": "kept",
	})
	if err != nil || md.WindowLength != 100 || len(md.Vocab) != 2 || md.InputStd != 255 || md.Raw["extra"] != "kept" {
		t.Fatalf("%+v %v", md, err)
	}
	for key, bad := range map[string]string{"vocab": "[a", "window_length": "ten", "input_std": "0", "output_kind": "odds", "state_inputs": `["h"]`} {
		_, err := ParseMetadata(map[string]string{key: bad, "state_outputs": `["h_out","c_out"]`, "state_inputs": `["h","c"]`})
		if key == "state_inputs" {
			_, err = ParseMetadata(map[string]string{key: bad, "state_outputs": `["h_out","c_out"]`})
		}
		if !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), key[:5]) {
			t.Errorf("%s=%q: %v", key, bad, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "/nonexistent/model.onnx", Options{}); !errors.Is(err, ErrBadModel) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(ctx, t.TempDir(), Options{Backend: "nope"}); !errors.Is(err, ErrNoBackend) {
		t.Errorf("unknown backend: %v", err)
	}
}

// A folder that is no SavedModel says so, whatever backends are compiled in;
// negative thread counts are refused.
func TestOpenNamesTheProblem(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, dir, Options{}); !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), dir+" is a folder without saved_model.pb") {
		t.Errorf("empty folder: %v", err)
	}
	f := filepath.Join(dir, "m.onnx")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := Open(ctx, f, Options{Threads: -1}); !errors.Is(err, ErrBadModel) || !strings.Contains(err.Error(), "threads -1") {
		t.Errorf("negative threads: %v", err)
	}
}

// The ONNX codes are those of onnx.proto's TensorProto.DataType.
func TestDTypeFromONNX(t *testing.T) {
	for code, want := range map[int32]DType{1: Float32, 2: Uint8, 3: Int8, 6: Int32, 7: Int64, 9: Bool, 11: Float64, 10: Unknown, 8: Unknown, 0: Unknown} {
		if got := DTypeFromONNX(code); got != want {
			t.Errorf("DTypeFromONNX(%d) = %v, want %v", code, got, want)
		}
	}
}
