package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchResult is the JSON form of `rnnrun bench --json`. The keys
// stateful_chars_per_second, windowed_chars_per_second, allocs_per_char and
// images_per_second are a documented contract (docs/benchmarks.md).
type benchResult struct {
	Model          string `json:"model"`
	Backend        string `json:"backend"`
	Kernels        string `json:"kernels,omitempty"` // the native backend's kernel implementation
	Task           string `json:"task"`
	Threads        int    `json:"threads"`
	InterOpThreads int    `json:"inter_op_threads"`
	Workers        int    `json:"workers,omitempty"`
	GoVersion      string `json:"go_version"`
	GOOS           string `json:"goos"`
	GOARCH         string `json:"goarch"`
	CPUs           int    `json:"cpus"`
	GOMAXPROCS     int    `json:"gomaxprocs"`

	// Text models.
	StatefulCharsPerSecond float64            `json:"stateful_chars_per_second,omitempty"`
	StatefulChars          int                `json:"stateful_chars,omitempty"`
	StatefulCPUCores       float64            `json:"stateful_cpu_cores,omitempty"`
	AllocsPerChar          *float64           `json:"allocs_per_char,omitempty"`
	BytesPerChar           *float64           `json:"bytes_per_char,omitempty"`
	WindowedCharsPerSecond float64            `json:"windowed_chars_per_second,omitempty"`
	WindowedChars          int                `json:"windowed_chars,omitempty"`
	WindowedAllocsPerChar  *float64           `json:"windowed_allocs_per_char,omitempty"`
	Window                 int                `json:"window,omitempty"`
	BatchedCharsPerSecond  map[string]float64 `json:"batched_chars_per_second,omitempty"`
	BatchShards            int                `json:"batch_shards,omitempty"`
	BatchedCharsPerStream  map[string]int     `json:"batched_chars_per_stream,omitempty"`
	BatchedCPUCores        map[string]float64 `json:"batched_cpu_cores,omitempty"`

	// Image models.
	ImagesPerSecond map[string]float64 `json:"images_per_second,omitempty"`
	ImagesCPUCores  map[string]float64 `json:"images_cpu_cores,omitempty"`
	ImagesData      string             `json:"images_data,omitempty"`
}

// cpuSeconds is the CPU time (user + system) of the whole process, every
// thread included (ONNX Runtime's own too), from /proc/self/stat; -1 where
// that file does not exist. It allocates: call it outside allocation counts.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name (which ends at the last ')'): state is 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + s) / 100 // USER_HZ is 100 on Linux
}

// cores is the average number of cores busy: CPU seconds over wall seconds (0 if unknown).
func cores(cpu0, cpu1 float64, wall time.Duration) float64 {
	if cpu0 < 0 || cpu1 < 0 || wall <= 0 {
		return 0
	}
	return (cpu1 - cpu0) / wall.Seconds()
}

// printBench writes the human-readable report.
func printBench(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "model     %s (%s, %d intra-op / %d inter-op threads)\n", r.Model, r.Backend, r.Threads, r.InterOpThreads)
	fmt.Fprintf(w, "machine   %s/%s, %d CPUs, %s\n", r.GOOS, r.GOARCH, r.CPUs, r.GoVersion)
	if r.StatefulCharsPerSecond > 0 {
		fmt.Fprintf(w, "stateful  %12.0f chars/s  (%.2f µs/char, %d chars)\n", r.StatefulCharsPerSecond, 1e6/r.StatefulCharsPerSecond, r.StatefulChars)
	}
	if r.AllocsPerChar != nil {
		fmt.Fprintf(w, "allocs    %12.3f per char (%.1f bytes/char), steady state\n", *r.AllocsPerChar, *r.BytesPerChar)
	}
	if r.WindowedCharsPerSecond > 0 {
		fmt.Fprintf(w, "windowed  %12.0f chars/s  (window %d, %.1f µs/char, %d chars)", r.WindowedCharsPerSecond, r.Window, 1e6/r.WindowedCharsPerSecond, r.WindowedChars)
		if r.StatefulCharsPerSecond > 0 {
			fmt.Fprintf(w, "  stateful is %.0fx faster", r.StatefulCharsPerSecond/r.WindowedCharsPerSecond)
		}
		fmt.Fprintln(w)
	}
	for _, k := range sortedKeys(r.BatchedCharsPerSecond) {
		cps := r.BatchedCharsPerSecond[k]
		fmt.Fprintf(w, "batched   %12.0f chars/s  aggregate, %s streams", cps, k)
		if r.StatefulCharsPerSecond > 0 {
			fmt.Fprintf(w, "  (%.1fx one stream)", cps/r.StatefulCharsPerSecond)
		}
		fmt.Fprintln(w)
	}
	for _, k := range sortedKeys(r.ImagesPerSecond) {
		fmt.Fprintf(w, "images    %12.0f images/s at batch %s", r.ImagesPerSecond[k], k)
		if r.Workers > 1 {
			fmt.Fprintf(w, " (%d concurrent calls)", r.Workers)
		}
		fmt.Fprintln(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(keys[i])
		b, _ := strconv.Atoi(keys[j])
		return a < b
	})
	return keys
}
