package main

import (
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/api/v1/models", "http://localhost:1/x", "http://[::1]:80/", "http://127.1.2.3/"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1/", "https://example.com/", "ftp://127.0.0.1/", "127.0.0.1:80", ""} {
		if checkLoopback(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	r := summarize(lat, 2*time.Second)
	if r.Requests != 100 || r.RPS != 50 || r.P50 != 50 || r.P99 != 99 || r.Max != 100 || r.Mean != 50.5 {
		t.Fatalf("%+v", r)
	}
}
