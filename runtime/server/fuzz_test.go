package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRequest posts body to path on the fake models' handler and checks the
// answer is a success or a JSON 4xx, never a 5xx or a panic.
func fuzzRequest(t *testing.T, h http.Handler, path, ctype string, body []byte) {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %q: %d with a body that is not JSON: %s", path, body, rec.Code, rec.Body)
	}
}

// FuzzGenerateRequest decodes any body as a generate request.
func FuzzGenerateRequest(f *testing.F) {
	for _, s := range []string{`{"prompt": "ab", "max_length": 3}`, `{"prompt": "a", "stop": ["b"], "top_p": 0.5, "top_k": 2, "seed": 1}`,
		`null`, `{"prompt": "a", "temperature": -1}`, `{"max_length": 1e9}`, `{"prompt": "a", "stream": true, "max_length": 2}`, `[]`} {
		f.Add([]byte(s))
	}
	h := fakeEnv(f, envOptions{}).srv.Config.Handler
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzRequest(t, h, "/api/v1/models/text/generate", "application/json", body)
	})
}

// FuzzClassifyRequest decodes any body as a classify request, as JSON,
// as an image and as multipart.
func FuzzClassifyRequest(f *testing.F) {
	for _, s := range []string{`{"pixels": [[0, 255], [3, 4]]}`, `{"pixels": null}`, `{"pixels": [1, 2, 3], "preprocess": true}`,
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00",
		"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n\r\nxx\r\n--b--\r\n"} {
		f.Add([]byte(s), uint8(0))
	}
	h := fakeEnv(f, envOptions{}).srv.Config.Handler
	ctypes := []string{"application/json", "image/png", "multipart/form-data; boundary=b", "image/gif"}
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		ctype := ctypes[int(kind)%len(ctypes)]
		if strings.HasPrefix(string(body), "--b") {
			ctype = ctypes[2]
		}
		fuzzRequest(t, h, "/api/v1/models/image/classify", ctype, body)
	})
}
