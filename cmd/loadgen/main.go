// Command loadgen sends a bounded closed-loop load to an rnnrun server on the
// loopback interface and reports requests per second and latency percentiles.
//
//	loadgen -url http://127.0.0.1:8080/api/v1/models/char/generate \
//	        -body '{"prompt":"ROMEO:","max_length":100,"seed":1}' -c 4 -d 20s -n 5000
//	loadgen -url http://127.0.0.1:8080/api/v1/models/mnist/classify \
//	        -file digit.png -type image/png -c 4 -d 20s
//
// Every worker sends its next request when the previous one has answered. The
// run stops at -n requests or after -d, whichever comes first. Only loopback
// addresses are accepted: this is a benchmark tool, not a load-testing service.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Result is the summary of one run.
type Result struct {
	Name        string         `json:"name"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	Statuses    map[string]int `json:"statuses"`
	Seconds     float64        `json:"seconds"`
	RPS         float64        `json:"requests_per_second"`
	P50         float64        `json:"p50_ms"`
	P90         float64        `json:"p90_ms"`
	P99         float64        `json:"p99_ms"`
	Max         float64        `json:"max_ms"`
	Mean        float64        `json:"mean_ms"`
}

func main() {
	var (
		target   = flag.String("url", "", "request URL (loopback only)")
		method   = flag.String("method", "POST", "HTTP method")
		body     = flag.String("body", "", "request body")
		file     = flag.String("file", "", "read the request body from this file")
		ctype    = flag.String("type", "application/json", "Content-Type")
		conc     = flag.Int("c", 4, "concurrent workers (1..256)")
		dur      = flag.Duration("d", 10*time.Second, "longest run (at most 5m)")
		limit    = flag.Int("n", 10000, "most requests (at most 1000000)")
		warmup   = flag.Int("warmup", 10, "requests sent (and not measured) before the run")
		name     = flag.String("name", "", "name of the run in the report")
		format   = flag.String("format", "text", "output: text, json, or md (a Markdown table row)")
		expected = flag.Int("status", 200, "status counted as a success")
	)
	flag.Parse()
	if err := checkLoopback(*target); err != nil {
		fatal(err)
	}
	if *format != "text" && *format != "json" && *format != "md" {
		fatal(fmt.Errorf("-format %q: want text, json or md", *format))
	}
	if *conc < 1 || *conc > 256 || *dur <= 0 || *dur > 5*time.Minute || *limit < 1 || *limit > 1000000 {
		fatal(fmt.Errorf("out of bounds: -c 1..256, -d up to 5m, -n 1..1000000"))
	}
	payload := []byte(*body)
	if *file != "" {
		var err error
		if payload, err = os.ReadFile(*file); err != nil {
			fatal(err)
		}
	}
	client := &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc, DisableCompression: true},
	}
	send := func() (int, error) {
		req, err := http.NewRequest(*method, *target, bytes.NewReader(payload))
		if err != nil {
			return 0, err
		}
		if len(payload) > 0 {
			req.Header.Set("Content-Type", *ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, err
	}
	for range *warmup {
		if code, err := send(); err != nil || code != *expected {
			fatal(fmt.Errorf("warm-up request: status %d, %v", code, err))
		}
	}

	var (
		issued    atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		statuses  = map[string]int{}
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*dur)
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			localStatus := map[string]int{}
			localErrs := 0
			for time.Now().Before(deadline) && issued.Add(1) <= int64(*limit) {
				t0 := time.Now()
				code, err := send()
				lat := time.Since(t0)
				switch {
				case err != nil:
					localErrs++
					localStatus["error"]++
				case code != *expected:
					localErrs++
					localStatus[fmt.Sprint(code)]++
				default:
					localStatus[fmt.Sprint(code)]++
					local = append(local, lat)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			for k, v := range localStatus {
				statuses[k] += v
			}
			errs += localErrs
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := summarize(latencies, elapsed)
	r.Name, r.URL, r.Concurrency, r.Errors, r.Statuses = *name, *target, *conc, errs, statuses
	switch *format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	case "md":
		fmt.Printf("| %s | %d | %d | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f |\n",
			r.Name, r.Concurrency, r.Requests, r.Errors, r.Seconds, r.RPS, r.P50, r.P90, r.P99, r.Max)
	default:
		fmt.Printf("%s: %d ok, %d errors in %.1fs with %d workers: %.1f req/s; latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f mean %.2f; statuses %v\n",
			r.Name, r.Requests, r.Errors, r.Seconds, r.Concurrency, r.RPS, r.P50, r.P90, r.P99, r.Max, r.Mean, r.Statuses)
	}
	if errs > 0 {
		os.Exit(1)
	}
}

func summarize(lat []time.Duration, elapsed time.Duration) Result {
	r := Result{Requests: len(lat), Seconds: elapsed.Seconds()}
	if len(lat) == 0 {
		return r
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1 // nearest rank
		return ms(lat[min(max(i, 0), len(lat)-1)])
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	r.RPS = float64(len(lat)) / elapsed.Seconds()
	r.P50, r.P90, r.P99, r.Max = pct(0.50), pct(0.90), pct(0.99), ms(lat[len(lat)-1])
	r.Mean = ms(sum / time.Duration(len(lat)))
	return r
}

// checkLoopback refuses every host that is not a loopback address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want http://127.0.0.1:PORT/...", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-url %q: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed", raw)
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}
