package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/registry/registrytest"
	"github.com/rnnrun/rnnrun/runtime/server"
	_ "github.com/rnnrun/rnnrun/runtime/task/tasks" // generate, classify, score, ...
)

// A Go backend mounts the API on its own mux, under a prefix. Here the model
// is the pure-Go fake of registrytest, which predicts the next letter; a
// real program imports a backend (_ "github.com/rnnrun/rnnrun/runtime/onnx")
// and reads its configuration from a file:
//
//	cfg, err := registry.LoadConfig("configs/rnnrun.yaml")     // the models
//	sc, err := server.LoadConfig("configs/rnnrun.yaml")        // the server: section
//	reg := registry.New(cfg, registry.WithConfigFile("configs/rnnrun.yaml",
//		func() (registry.Config, error) { return registry.LoadConfig("configs/rnnrun.yaml") }))
//	go reg.Watch(ctx)                                           // hot swap on file changes
//	mux.Handle("/ml/", http.StripPrefix("/ml", server.New(reg, server.OptionsFromConfig(sc))))
func Example() {
	registrytest.Register()
	dir, err := os.MkdirTemp("", "rnnrun-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "letters.json")
	if err := registrytest.Write(path, registrytest.Text("example")); err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := registry.Config{Models: []registry.ModelConfig{{Name: "letters", Path: path, Backend: registrytest.Backend}}}
	reg := registry.New(cfg, registry.WithLogger(quiet))
	defer reg.Close()
	if err := reg.Start(context.Background()); err != nil {
		log.Print(err) // the failed models show on /api/v1/models; the others serve
	}

	mux := http.NewServeMux()
	mux.Handle("/ml/", http.StripPrefix("/ml", server.New(reg, server.Options{Logger: quiet})))
	// ... the backend's own routes ...
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/ml/api/v1/models/letters/generate", "application/json",
		strings.NewReader(`{"prompt": "a", "max_length": 5, "temperature": 0}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, out.Text)
	// Output: 200 bcdef
}
