// Package kserve serves KServe's Open Inference Protocol (v2) over every
// loaded model: health, server and model metadata, readiness, and
// POST /v2/models/{name}/infer, raw named tensors in and out through the
// model's generic Run, as JSON or with the binary tensor extension
// (Inference-Header-Content-Length, binary_data_size, binary_data_output)
// that tritonclient uses by default. Errors are {"error": "..."}.
package kserve

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/protocol"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// New makes the protocol's routes.
func New(env protocol.Env) protocol.Routes {
	h := &handler{env: env, seqs: sequences{lim: env.Sequences}}
	return protocol.Routes{Endpoints: []protocol.Endpoint{
		{Method: "GET", Path: "/v2", Label: "v2_server", Handle: h.server},
		{Method: "GET", Path: "/v2/health/live", Label: "v2_live", Handle: h.live},
		{Method: "GET", Path: "/v2/health/ready", Label: "v2_ready", Handle: h.ready},
		{Method: "GET", Path: "/v2/models/{name}", Label: "v2_model", Handle: h.model},
		{Method: "GET", Path: "/v2/models/{name}/ready", Label: "v2_model_ready", Handle: h.modelReady},
		{Method: "POST", Path: "/v2/models/{name}/infer", Label: "v2_infer", Handle: h.infer},
	}}
}

type handler struct {
	env  protocol.Env
	seqs sequences
}

// ErrorBody is the body of every error.
type ErrorBody struct {
	Error string `json:"error"`
}

// fail writes err as {"error": ...} with the status the common mapping gives it.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	e := task.MapError(err)
	if errors.Is(err, model.ErrBadInput) {
		e = task.NewError(http.StatusBadRequest, "bad_input", err.Error())
	}
	task.Note(r, "error", e.Body.Message, "code", e.Body.Code)
	if e.Status() == task.StatusClientClosed {
		task.SetStatus(r, task.StatusClientClosed)
		return
	}
	task.WriteJSON(w, e.Status(), ErrorBody{Error: e.Body.Message})
}

var errNotFound = registry.ErrNotFound

func badRequest(msg string) error { return task.NewError(http.StatusBadRequest, "bad_request", msg) }

// ServerMetadata is the body of GET /v2.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func (h *handler) server(w http.ResponseWriter, r *http.Request) {
	task.WriteJSON(w, http.StatusOK, ServerMetadata{Name: "rnnrun", Version: moduleVersion(), Extensions: []string{"binary_tensor_data"}})
}

func (h *handler) live(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.env.Registry.Ready() {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

// status is the named model's status, or a 404.
func (h *handler) status(w http.ResponseWriter, r *http.Request) (registry.ModelStatus, bool) {
	st, ok := h.env.Registry.ModelStatus(r.PathValue("name"))
	if !ok {
		fail(w, r, fmt.Errorf("%w: %q", errNotFound, r.PathValue("name")))
	}
	return st, ok
}

func (h *handler) modelReady(w http.ResponseWriter, r *http.Request) {
	if st, ok := h.status(w, r); ok {
		if st.Version == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// TensorMetadata describes one input or output.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the body of GET /v2/models/{name}.
type ModelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions"`
	Platform string           `json:"platform"`
	Inputs   []TensorMetadata `json:"inputs"`
	Outputs  []TensorMetadata `json:"outputs"`
}

func (h *handler) model(w http.ResponseWriter, r *http.Request) {
	st, ok := h.status(w, r)
	if !ok {
		return
	}
	if st.Version == nil || st.Signature == nil {
		fail(w, r, registry.ErrNotLoaded)
		return
	}
	md := ModelMetadata{Name: st.Name, Versions: []string{st.Version.SHA256[:12]}, Platform: "rnnrun_" + st.Backend,
		Inputs: []TensorMetadata{}, Outputs: []TensorMetadata{}}
	for _, in := range st.Signature.Inputs {
		md.Inputs = append(md.Inputs, TensorMetadata{Name: in.Name, Datatype: datatypeOf(in.Type), Shape: in.Shape})
	}
	for _, out := range st.Signature.Outputs {
		md.Outputs = append(md.Outputs, TensorMetadata{Name: out.Name, Datatype: datatypeOf(out.Type), Shape: out.Shape})
	}
	task.WriteJSON(w, http.StatusOK, md)
}

// header is the JSON length of a binary request or response.
const header = "Inference-Header-Content-Length"

func headerLength(r *http.Request) (int64, bool, error) {
	v := r.Header.Get(header)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest(header + " " + strconv.Quote(v) + ": must be a byte count")
	}
	return n, true, nil
}

// moduleVersion is rnnrun's module version ("devel" in a source build).
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
