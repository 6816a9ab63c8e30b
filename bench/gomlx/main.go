// Command gomlx measures the cgo-free route Go users have today for an ONNX
// recurrent model: github.com/gomlx/onnx-gomlx on GoMLX's pure-Go "simplego"
// backend, as hugot's Go backend uses it. It lives in its own module so that the
// main module does not depend on GoMLX. scripts/bench.sh runs it beside
// `rnnrun bench`; it prints one JSON object.
//
//	go run . -model ../../models/export/char.onnx -steps 2000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/onnx-gomlx/onnx"
)

// result is what the program prints.
type result struct {
	Engine          string  `json:"engine"`
	Model           string  `json:"model"`
	Steps           int     `json:"steps"`
	MicrosPerStep   float64 `json:"us_per_step"`
	CharsPerSecond  float64 `json:"chars_per_second"`
	FirstCallMillis float64 `json:"first_call_ms"` // compile + run for a new shape
	NewShapeMillis  float64 `json:"new_shape_ms"`  // the same for the next batch size
}

func main() {
	path := flag.String("model", "models/export/char.onnx", "stateful char model (inputs x, h, c)")
	steps := flag.Int("steps", 2000, "timed single-stream steps")
	flag.Parse()
	res, err := run(*path, *steps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gomlx:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

func run(path string, steps int) (result, error) {
	m, err := onnx.ReadFile(path)
	if err != nil {
		return result{}, err
	}
	backend, err := backends.NewWithConfig("go")
	if err != nil {
		return result{}, err
	}
	ctx := context.New()
	if err := m.VariablesToContext(ctx); err != nil {
		return result{}, err
	}
	names, shapes := m.Inputs()
	if len(names) != 3 {
		return result{}, fmt.Errorf("%s: want inputs x, h, c; got %v", path, names)
	}
	vocab := shapes[0].Dimensions[2]
	hidden := shapes[1].Dimensions[1]
	exec, err := context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, x, h, c *graph.Node) []*graph.Node {
		return m.CallGraph(ctx, x.Graph(), map[string]*graph.Node{"x": x, "h": h, "c": c}, "probs", "h_out", "c_out")
	})
	if err != nil {
		return result{}, err
	}
	step := func(batch int, h, c *tensors.Tensor, char int) ([]*tensors.Tensor, error) {
		x := make([]float32, batch*vocab)
		for b := 0; b < batch; b++ {
			x[b*vocab+char] = 1
		}
		return exec.Exec(tensors.FromFlatDataAndDimensions(x, batch, 1, vocab), h, c)
	}
	zeros := func(batch int) *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(make([]float32, batch*hidden), batch, hidden)
	}
	res := result{Engine: "onnx-gomlx v0.3.4 (GoMLX v0.26.0 simplego)", Model: path, Steps: steps}
	t0 := time.Now()
	out, err := step(1, zeros(1), zeros(1), 0)
	if err != nil {
		return result{}, err
	}
	res.FirstCallMillis = ms(time.Since(t0))
	t0 = time.Now()
	if _, err := step(2, zeros(2), zeros(2), 0); err != nil {
		return result{}, err
	}
	res.NewShapeMillis = ms(time.Since(t0))
	h, c := out[1], out[2]
	t0 = time.Now()
	for i := 0; i < steps; i++ {
		out, err = step(1, h, c, i%vocab)
		if err != nil {
			return result{}, err
		}
		h, c = out[1], out[2]
	}
	el := time.Since(t0)
	res.MicrosPerStep = float64(el.Microseconds()) / float64(steps)
	res.CharsPerSecond = float64(steps) / el.Seconds()
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
