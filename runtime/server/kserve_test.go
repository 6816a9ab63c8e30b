package server_test

import (
	"strings"
	"testing"

	"github.com/rnnrun/rnnrun/runtime/protocol/kserve"
)

func TestKServeErrorsAndMetrics(t *testing.T) {
	e := fakeEnv(t, envOptions{})
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v2/models/nope", "", 404, `"nope"`},
		{"GET", "/v2/models/nope/ready", "", 404, `"nope"`},
		{"POST", "/v2/models/nope/infer", `{"inputs": []}`, 404, `"nope"`},
		{"POST", "/v2/models/text/infer", `{"inputs": [`, 400, "not valid JSON"},
		{"POST", "/v2/models/text/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP16", "data": [1]}]}`, 400, `input "x": datatype "FP16"`},
		{"POST", "/v2/models/text/infer", `{"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]}`, 400, `missing input "x"`},
	} {
		code, body := e.do(c.method, c.path, "application/json", []byte(c.body))
		got := decode[kserve.ErrorBody](t, body)
		if code != c.code || !strings.Contains(got.Error, c.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	if code, _ := e.do("GET", "/v2/health/live", "", nil); code != 200 {
		t.Fatalf("live: %d", code)
	}
	code, body := e.do("GET", "/v2/models/text", "", nil)
	md := decode[kserve.ModelMetadata](t, body)
	if code != 200 || md.Name != "text" || len(md.Inputs) == 0 || md.Inputs[0].Datatype != "FP32" || len(md.Versions[0]) != 12 {
		t.Fatalf("metadata: %d %s", code, body)
	}
	m := e.metrics()
	for _, want := range []string{`route="v2_infer",status="400"} 3`, `model="text",route="v2_model",status="200"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(m, "v2_"))
		}
	}
}
