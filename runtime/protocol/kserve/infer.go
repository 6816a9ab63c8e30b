package kserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task"
)

// InferRequest is the body (or, with binary data, its JSON header) of POST /v2/models/{name}/infer.
type InferRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters Parameters      `json:"parameters,omitempty"`
	Inputs     []InputTensor   `json:"inputs"`
	Outputs    []RequestOutput `json:"outputs,omitempty"`
}

// Parameters are a request's, a tensor's or an output's parameters.
type Parameters map[string]any

func (p Parameters) flag(name string) bool { b, _ := p[name].(bool); return b }

// InputTensor is one named input: its data as JSON, or binary_data_size bytes of the binary part.
type InputTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters Parameters      `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// RequestOutput names an output to return; parameters.binary_data asks for it as binary.
type RequestOutput struct {
	Name       string     `json:"name"`
	Parameters Parameters `json:"parameters,omitempty"`
}

// OutputTensor is one output of the response.
type OutputTensor struct {
	Name       string     `json:"name"`
	Shape      []int64    `json:"shape"`
	Datatype   string     `json:"datatype"`
	Parameters Parameters `json:"parameters,omitempty"`
	Data       any        `json:"data,omitempty"`
}

// InferResponse is the answer (its JSON part, with binary outputs).
type InferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Outputs      []OutputTensor `json:"outputs"`
}

func (h *handler) infer(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !h.env.Registry.Has(name) {
		fail(w, r, fmt.Errorf("%w: %q", errNotFound, name))
		return
	}
	req, rest, err := h.read(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if _, ok := req.Parameters["sequence_id"]; ok {
		h.sequence(w, r, req, rest)
		return
	}
	inputs, err := tensors(req, rest)
	if err != nil {
		fail(w, r, err)
		return
	}
	lease, err := h.env.Registry.Acquire(name)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer lease.Release()
	ctx, cancel := h.context(r)
	defer cancel()
	m := lease.Model()
	outs, err := m.Run(ctx, inputs)
	if err != nil {
		fail(w, r, err)
		return
	}
	resp := InferResponse{ModelName: name, ModelVersion: lease.Version().SHA256[:12], ID: req.ID}
	blobs, err := outputs(&resp, m.Signature(), req, outs)
	if err != nil {
		fail(w, r, err)
		return
	}
	write(w, resp, blobs)
}

// context is the request's, bounded by the server's request timeout.
func (h *handler) context(r *http.Request) (context.Context, context.CancelFunc) {
	if t := h.env.Limits.RequestTimeout; t > 0 {
		return context.WithTimeout(r.Context(), t)
	}
	return context.WithCancel(r.Context())
}

// read parses the body: JSON, or a JSON header of Inference-Header-Content-Length
// bytes and the binary data after it (returned as rest).
func (h *handler) read(w http.ResponseWriter, r *http.Request) (InferRequest, []byte, error) {
	var req InferRequest
	hlen, isBinary, err := headerLength(r)
	if err != nil {
		return req, nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.env.Limits.MaxBodyBytes))
	if err != nil {
		return req, nil, err
	}
	rest := []byte(nil)
	if isBinary {
		if hlen > int64(len(body)) {
			return req, nil, badRequest(fmt.Sprintf("%s %d is longer than the body (%d bytes)", header, hlen, len(body)))
		}
		body, rest = body[:hlen], body[hlen:]
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, nil, badRequest("the inference request is not valid JSON: " + err.Error())
	}
	return req, rest, nil
}

// tensors decodes the request's inputs, their binary data taken from rest in order.
func tensors(req InferRequest, rest []byte) (map[string]*model.Tensor, error) {
	inputs := map[string]*model.Tensor{}
	for _, in := range req.Inputs {
		t, n, err := input(in, rest)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("input %q: %v", in.Name, err))
		}
		if _, dup := inputs[in.Name]; dup {
			return nil, badRequest(fmt.Sprintf("input %q is given twice", in.Name))
		}
		inputs[in.Name], rest = t, rest[n:]
	}
	if len(rest) > 0 {
		return nil, badRequest(fmt.Sprintf("%d bytes of binary data after the inputs' binary_data_size", len(rest)))
	}
	return inputs, nil
}

// input decodes one input and returns how many bytes of the binary part it used.
func input(in InputTensor, rest []byte) (*model.Tensor, int, error) {
	d, ok := dtypeOf(in.Datatype)
	if !ok {
		return nil, 0, fmt.Errorf("datatype %q is not supported (FP32, FP64, INT32, INT64, UINT8, INT8, BOOL)", in.Datatype)
	}
	shape := model.Shape(in.Shape)
	for _, dim := range shape {
		if dim < 0 {
			return nil, 0, fmt.Errorf("shape %v has a negative dimension", in.Shape)
		}
	}
	var t *model.Tensor
	n := 0
	var err error
	if size, ok := in.Parameters["binary_data_size"]; ok {
		f, isNum := size.(float64)
		if !isNum || f < 0 || f > float64(len(rest)) || f != float64(int(f)) {
			return nil, 0, fmt.Errorf("binary_data_size %v: must be a byte count within the %d bytes left", size, len(rest))
		}
		n = int(f)
		t, err = fromBinary(d, shape, rest[:n])
	} else {
		if len(in.Data) == 0 {
			return nil, 0, errors.New("has neither data nor parameters.binary_data_size")
		}
		t, err = fromJSON(d, shape, in.Data)
	}
	if err == nil {
		err = t.Validate()
	}
	return t, n, err
}

// outputs fills the response's outputs (the requested ones, else all in the
// model's order) and returns the binary parts, in order.
func outputs(resp *InferResponse, sig model.Signature, req InferRequest, outs map[string]*model.Tensor) ([][]byte, error) {
	want := req.Outputs
	if len(want) == 0 {
		for _, o := range sig.Outputs {
			want = append(want, RequestOutput{Name: o.Name})
		}
	}
	var blobs [][]byte
	for _, o := range want {
		t, ok := outs[o.Name]
		if !ok {
			return nil, badRequest(fmt.Sprintf("output %q: the model has no such output (outputs: %s)", o.Name, outputNames(sig)))
		}
		ot := OutputTensor{Name: o.Name, Shape: t.Shape, Datatype: datatypeOf(t.DType())}
		if o.Parameters.flag("binary_data") || (o.Parameters["binary_data"] == nil && req.Parameters.flag("binary_data_output")) {
			b := toBinary(t)
			ot.Parameters = Parameters{"binary_data_size": len(b)}
			blobs = append(blobs, b)
		} else {
			ot.Data = jsonData(t)
		}
		resp.Outputs = append(resp.Outputs, ot)
	}
	return blobs, nil
}

func outputNames(sig model.Signature) string {
	var b bytes.Buffer
	for i, o := range sig.Outputs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.Name)
	}
	return b.String()
}

// write sends the response: JSON, or its JSON header followed by the binary outputs.
func write(w http.ResponseWriter, resp InferResponse, blobs [][]byte) {
	if len(blobs) == 0 {
		task.WriteJSON(w, http.StatusOK, resp)
		return
	}
	head, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(header, strconv.Itoa(len(head)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(head)
	for _, b := range blobs {
		_, _ = w.Write(b)
	}
}

// jsonData is a tensor's data as JSON numbers (a []uint8 would be base64).
func jsonData(t *model.Tensor) any {
	if b, ok := t.Data.([]uint8); ok {
		out := make([]uint16, len(b))
		for i, v := range b {
			out[i] = uint16(v)
		}
		return out
	}
	return t.Data
}
