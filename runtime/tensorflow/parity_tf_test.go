//go:build tensorflow && cgo

package tensorflow_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rnnrun/rnnrun/internal/golden"
	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/tensorflow"
)

// parityTolerance is the bound on |TensorFlow - ONNX Runtime|.
const parityTolerance = 1e-5

// Every golden case of every model with a SavedModel (char, char_large, mnist,
// mnist_tf: every golden file whose model has one): the SavedModel's outputs
// equal the Keras outputs the exporter recorded (file tolerance, 1e-5) and
// ONNX Runtime's outputs for the same case (max diff <= 1e-5).
func TestGoldenParity(t *testing.T) {
	files, err := golden.CaseFiles()
	if err != nil {
		t.Fatal(err)
	}
	var tested []string
	for _, file := range files {
		name := strings.TrimSuffix(file, ".json")
		if _, err := os.Stat(savedModel(name)); err != nil {
			continue // char_window: the windowed model has no SavedModel of its own
		}
		tested = append(tested, name)
		t.Run(file, func(t *testing.T) {
			g := loadGolden(t, file)
			if len(g.Cases) == 0 {
				t.Fatal("no cases")
			}
			tf := open(t, savedModel(name), "tf")
			ort := open(t, onnxFile(name), "onnx")
			var worstKeras, worstORT float64
			for _, c := range g.Cases {
				in := c.ModelInputs()
				got, err := tf.Run(context.Background(), in)
				if err != nil {
					t.Fatalf("%s: tf: %v", c.Name, err)
				}
				ref, err := ort.Run(context.Background(), in)
				if err != nil {
					t.Fatalf("%s: onnx: %v", c.Name, err)
				}
				if len(got) != len(ref) {
					t.Fatalf("%s: tf gives %d outputs, onnx %d", c.Name, len(got), len(ref))
				}
				for out, want := range c.Outputs {
					tg, ok := got[out]
					if !ok {
						t.Fatalf("%s: tf has no output %q", c.Name, out)
					}
					if !equalShape(tg.Shape, want.Shape) {
						t.Fatalf("%s/%s: tf shape %v, golden %v", c.Name, out, tg.Shape, want.Shape)
					}
					dk, err := golden.MaxDiff(tg.Float32s(), want.Data)
					if err != nil || dk > g.Tolerance {
						t.Fatalf("%s/%s: tf vs Keras max diff %g > %g (%v)", c.Name, out, dk, g.Tolerance, err)
					}
					do, err := golden.MaxDiff(tg.Float32s(), ref[out].Float32s())
					if err != nil || do > parityTolerance {
						t.Fatalf("%s/%s: tf vs onnx max diff %g > %g (%v)", c.Name, out, do, parityTolerance, err)
					}
					worstKeras, worstORT = max(worstKeras, dk), max(worstORT, do)
					t.Logf("%s/%s %v: tf-keras %.3g, tf-onnx %.3g", c.Name, out, tg.Shape, dk, do)
				}
			}
			t.Logf("PARITY %s: %d cases, max diff tf-keras %.3g, tf-onnx %.3g", file, len(g.Cases), worstKeras, worstORT)
		})
	}
	if want := []string{"char", "char_large", "mnist", "mnist_tf"}; !slices.Equal(tested, want) {
		t.Fatalf("tested the SavedModels of %v, want %v", tested, want)
	}
}

func equalShape(a model.Shape, b []int64) bool {
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

// The 50-step stateful rollouts (char, char_large), one character per call
// through Bindings (the generation hot path), carrying the state: every step's
// distribution and the final state equal Keras's, and ONNX Runtime's run side
// by side.
func TestGoldenRollout(t *testing.T) {
	for _, name := range []string{"char", "char_large"} {
		t.Run(name, func(t *testing.T) { goldenRollout(t, name) })
	}
}

func goldenRollout(t *testing.T, name string) {
	g := loadGolden(t, name+"_rollout.json")
	V := g.Probs.Shape[1]
	tf := onnxtest.NewStepper(t, open(t, savedModel(name), "tf"))
	ort := onnxtest.NewStepper(t, open(t, onnxFile(name), "onnx"))
	var worstKeras, worstORT float64
	check := func(what string, got, want, ref []float32) {
		t.Helper()
		dk, err := golden.MaxDiff(got, want)
		if err != nil || dk > g.Tolerance {
			t.Fatalf("%s: tf vs Keras max diff %g > %g (%v)", what, dk, g.Tolerance, err)
		}
		do, _ := golden.MaxDiff(got, ref)
		if do > parityTolerance {
			t.Fatalf("%s: tf vs onnx max diff %g", what, do)
		}
		worstKeras, worstORT = max(worstKeras, dk), max(worstORT, do)
	}
	for step, idx := range g.Indices {
		got, err := tf.Step(idx)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := ort.Step(idx)
		if err != nil {
			t.Fatal(err)
		}
		check("step "+strconv.Itoa(step), got, g.Probs.Data[int64(step)*V:int64(step+1)*V], ref)
	}
	for out, want := range g.Final {
		got, _ := tf.State(out)
		ref, _ := ort.State(out)
		check("final "+out, got, want.Data, ref)
	}
	t.Logf("PARITY %s_rollout.json: %d steps, %d state tensors, max diff tf-keras %.3g, tf-onnx %.3g", name, len(g.Indices), len(g.Final), worstKeras, worstORT)
}

// Beyond the golden cases: random batches, lengths and states give the same
// outputs on both backends, for both stateful text models (char: h, c;
// char_large: h0, c0, h1, c1).
func TestRandomParityChar(t *testing.T) {
	for _, name := range []string{"char", "char_large"} {
		t.Run(name, func(t *testing.T) { randomParity(t, name) })
	}
}

func randomParity(t *testing.T, name string) {
	tf := open(t, savedModel(name), "tf")
	ort := open(t, onnxFile(name), "onnx")
	sig := tf.Signature()
	xi, _ := sig.Input("x")
	V := xi.Shape[2]
	states := tf.Metadata().StateInputs
	if len(states) == 0 {
		t.Fatalf("%s has no state inputs", name)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var worst float64
	for _, bt := range [][2]int64{{1, 1}, {1, 100}, {4, 7}, {16, 3}} {
		B, T := bt[0], bt[1]
		x := model.NewFloat32(model.Shape{B, T, V}, nil)
		for i := int64(0); i < B*T; i++ {
			x.Float32s()[i*V+int64(r.IntN(int(V)))] = 1
		}
		in := map[string]*model.Tensor{"x": x}
		for _, s := range states {
			si, _ := sig.Input(s)
			st := model.NewFloat32(model.Shape{B, si.Shape[1]}, nil)
			for i := range st.Float32s() {
				st.Float32s()[i] = float32(r.NormFloat64() * 0.5)
			}
			in[s] = st
		}
		got, err := tf.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := ort.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for out, want := range ref {
			d, err := golden.MaxDiff(got[out].Float32s(), want.Float32s())
			if err != nil || d > parityTolerance {
				t.Fatalf("batch %d time %d %s: max diff %g (%v)", B, T, out, d, err)
			}
			worst = max(worst, d)
		}
	}
	t.Logf("random %s batches (%d state tensors): max diff tf-onnx %.3g", name, len(states), worst)
}

// Run is safe for concurrent use: many goroutines get the serial results.
func TestConcurrentRun(t *testing.T) {
	g := loadGolden(t, "char.json")
	tf := open(t, savedModel("char"), "tf")
	want := make([]map[string]*model.Tensor, len(g.Cases))
	for i, c := range g.Cases {
		out, err := tf.Run(context.Background(), c.ModelInputs())
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 8 {
		wg.Go(func() {
			for k := range 10 {
				i := (w + k) % len(g.Cases)
				out, err := tf.Run(context.Background(), g.Cases[i].ModelInputs())
				if err != nil {
					errs <- err.Error()
					return
				}
				for name, tt := range want[i] {
					if d, _ := golden.MaxDiff(out[name].Float32s(), tt.Float32s()); d != 0 {
						errs <- name + " differs from the serial run"
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var msgs []string
	for e := range errs {
		msgs = append(msgs, e)
	}
	sort.Strings(msgs)
	if len(msgs) > 0 {
		t.Fatal(strings.Join(msgs, "\n"))
	}
}

// The tfgo-shaped surface: Op names graph tensors, Exec feeds and fetches
// them; the result equals Run by signature keys.
func TestExecLikeTfgo(t *testing.T) {
	m := loadTF(t, savedModel("char"))
	g := loadGolden(t, "char.json")
	c := g.Cases[0]
	sd := m.Signatures()[m.SignatureKey()]
	op := func(key string, infos map[string]tensorflow.TensorInfo) tensorflow.Output {
		name, idx, _ := strings.Cut(infos[key].Name, ":")
		i, err := strconv.Atoi(idx)
		if err != nil {
			t.Fatalf("tensor name %q", infos[key].Name)
		}
		return m.Op(name, i)
	}
	feeds := map[tensorflow.Output]*model.Tensor{}
	for key := range sd.Inputs {
		feeds[op(key, sd.Inputs)] = c.Inputs[key].Model()
	}
	probs := op("probs", sd.Outputs)
	res, err := m.Exec([]tensorflow.Output{probs}, feeds)
	if err != nil {
		t.Fatal(err)
	}
	d, err := golden.MaxDiff(res[0].Float32s(), c.Outputs["probs"].Data)
	if err != nil || d > g.Tolerance {
		t.Fatalf("Exec %s: max diff %g (%v)", probs, d, err)
	}
	if !strings.HasPrefix(tensorflow.Version(), "2.") {
		t.Fatalf("TF_Version %q", tensorflow.Version())
	}
	t.Logf("Exec(%s) matches; libtensorflow %s", probs, tensorflow.Version())
}
