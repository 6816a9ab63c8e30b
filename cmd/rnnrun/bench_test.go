package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The JSON keys of `rnnrun bench --json` are a contract (docs/benchmarks.md):
// a tiny run checks their presence and shape, not speed.

func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := runBinary(t, nil, append([]string{"bench", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\nstdout: %s", err, r.stdout)
	}
	return out
}

func positive(t *testing.T, obj map[string]any, key string) float64 {
	t.Helper()
	v, ok := obj[key].(float64)
	if !ok || v <= 0 {
		t.Errorf("%s = %v, want a number > 0", key, obj[key])
	}
	return v
}

func positiveByCount(t *testing.T, obj map[string]any, key string, counts ...string) {
	t.Helper()
	m, ok := obj[key].(map[string]any)
	if !ok {
		t.Fatalf("%s = %v, want an object keyed by count", key, obj[key])
	}
	for _, c := range counts {
		positive(t, m, c)
	}
	if len(m) != len(counts) {
		t.Errorf("%s has keys for %d counts, want %v: %v", key, len(m), counts, m)
	}
}

func TestBenchTextJSON(t *testing.T) {
	out := benchJSON(t, "--model", shipped("char.onnx"), "--length", "300", "--streams", "1,4")
	positive(t, out, "stateful_chars_per_second")
	positive(t, out, "windowed_chars_per_second")
	// The counters are the whole process's: on a loaded machine a rare runtime
	// allocation (a GC worker, a timer) can fall inside the window. One
	// allocation in the per-character loop would show as >= 1 per character;
	// the library's own zero-allocation tests (testing.AllocsPerRun) pin 0 exactly.
	if a, ok := out["allocs_per_char"].(float64); !ok || a >= 0.05 {
		t.Errorf("allocs_per_char = %v, want 0 in the steady state (below 0.05 allowed for background allocations)", out["allocs_per_char"])
	}
	positiveByCount(t, out, "batched_chars_per_second", "1", "4")
	if out["window"] != 100.0 || out["task"] != "text-generation" || out["threads"] != 1.0 {
		t.Errorf("window %v, task %v, threads %v: want 100, text-generation, 1", out["window"], out["task"], out["threads"])
	}
	if _, ok := out["images_per_second"]; ok {
		t.Error("a text model reported images_per_second")
	}
}

func TestBenchImageJSON(t *testing.T) {
	out := benchJSON(t, "--model", shipped("mnist.onnx"), "--batch", "1,4", "--duration", "50ms")
	positiveByCount(t, out, "images_per_second", "1", "4")
	if _, ok := out["stateful_chars_per_second"]; ok {
		t.Error("an image model reported stateful_chars_per_second")
	}
}

// The tutorial's stateless model has only the windowed path.
func TestBenchWindowOnlyModel(t *testing.T) {
	out := benchJSON(t, "--model", shipped("char_window.onnx"), "--length", "20")
	positive(t, out, "windowed_chars_per_second")
	if _, ok := out["stateful_chars_per_second"]; ok {
		t.Error("a stateless model reported stateful_chars_per_second")
	}
}

func TestBenchHumanOutput(t *testing.T) {
	r := runBinary(t, nil, "bench", "--model", shipped("char.onnx"), "--length", "100", "--only", "stateful,windowed")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"stateful", "windowed", "allocs", "chars/s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "batched") {
		t.Errorf("--only stateful,windowed ran the batched section:\n%s", r.stdout)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	char, mnist := shipped("char.onnx"), shipped("mnist.onnx")
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--model", char, "--streams", "1,x"},
		{"bench", "--model", char, "--streams", "0"},
		{"bench", "--model", mnist, "--batch", "-1"},
		{"bench", "--model", char, "--duration", "0s"},
		{"bench", "--model", char, "--length", "-5"},
		{"bench", "--model", char, "--only", "fast"},
		{"bench", "--model", char, "--only", "images"},
		{"bench", "--model", mnist, "--only", "stateful"},
		{"bench", "--model", char, "--only", "windowed", "--prompt", "short"},
		{"bench", "--model", shipped("char_window.onnx"), "--only", "batched"},
	} {
		if r := runBinary(t, nil, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr: %s)", args[1:], r.code, r.stderr)
		}
	}
}
