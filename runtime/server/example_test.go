package server_test

import (
	"context"
	"log"
	"net/http"

	_ "github.com/rnnrun/rnnrun/runtime/onnx" // the ONNX Runtime backend
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/server"
)

// A Go backend mounts the API on its own mux, under a prefix.
func Example() {
	ctx := context.Background()
	cfg, err := registry.LoadConfig("configs/rnnrun.yaml")
	if err != nil {
		log.Fatal(err)
	}
	reg := registry.New(cfg, registry.WithConfigFile("configs/rnnrun.yaml", func() (registry.Config, error) {
		return registry.LoadConfig("configs/rnnrun.yaml")
	}))
	defer reg.Close()
	if err := reg.Start(ctx); err != nil {
		log.Print(err) // the failed models show on /v1/models; the others serve
	}
	go reg.Watch(ctx) // hot swap when the config or a model file changes

	mux := http.NewServeMux()
	mux.Handle("/ml/", http.StripPrefix("/ml", server.New(reg, server.OptionsFromConfig(cfg.Server))))
	// ... the backend's own routes ...
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}
