package kserve

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/classify"
)

// An image classifier also takes encoded image files (PNG, JPEG, GIF) as one
// BYTES input of n elements: in JSON each element is a file in standard
// base64; with the binary extension, each is a 4-byte little-endian length
// then the file. They are classified as the classify route classifies a
// multipart body (auto preprocessing, its limits), and the outputs are
// "probs" (FP32 [n, classes]) and "label" (BYTES [n]).

// isImageRequest tells whether the request carries a BYTES input (and so encoded images).
func isImageRequest(req InferRequest) bool {
	for _, in := range req.Inputs {
		if in.Datatype == "BYTES" {
			return true
		}
	}
	return false
}

func (h *handler) images(w http.ResponseWriter, r *http.Request, req InferRequest, rest []byte) {
	files, err := imageFiles(req, rest)
	if err != nil {
		fail(w, r, err)
		return
	}
	c := task.NewCall(w, r, h.env.Registry, classify.Name, h.env.Limits, classify.MapError)
	c.Decode = h.env.Decode
	lease, in, err := acquire[*classify.Instance](c)
	if err != nil {
		imageFail(c, err)
		return
	}
	defer lease.Release()
	ctx, cancel := h.context(r)
	defer cancel()
	results, err := in.ClassifyFiles(ctx, c, files)
	if err != nil {
		imageFail(c, err)
		return
	}
	c.Note("images", len(results))
	resp := InferResponse{ModelName: c.Model, ModelVersion: lease.Version().SHA256[:12], ID: req.ID}
	blobs, err := outputs(&resp, []string{"probs", "label"}, req, classValues(results))
	if err != nil {
		fail(w, r, err)
		return
	}
	write(w, resp, blobs)
}

// imageFail maps image errors as the classify route does, a file that is no
// good image being the request's fault (400).
func imageFail(c *task.Call, err error) {
	if e := c.Error(err); e.Body.Code == "bad_image" {
		err = badRequest(e.Body.Message)
	}
	seqFail(c, err)
}

// imageFiles reads the one BYTES input's elements as files named "input[i]".
func imageFiles(req InferRequest, rest []byte) ([]classify.File, error) {
	if len(req.Inputs) != 1 {
		return nil, badRequest(fmt.Sprintf("%d inputs: encoded images are one BYTES input of n elements", len(req.Inputs)))
	}
	in := req.Inputs[0]
	elems, err := bytesElements(in, rest, base64.StdEncoding.DecodeString)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("input %q: %v", in.Name, err))
	}
	files := make([]classify.File, len(elems))
	for i, e := range elems {
		files[i] = classify.File{Name: fmt.Sprintf("%s[%d]", in.Name, i), Data: e}
	}
	return files, nil
}

// bytesElements reads a BYTES input: JSON strings (each turned to bytes by
// fromString), or binary data (binary_data_size bytes of rest, each element a
// 4-byte little-endian length then its bytes), as many as its shape holds.
func bytesElements(in InputTensor, rest []byte, fromString func(string) ([]byte, error)) ([][]byte, error) {
	n := int64(1)
	for _, d := range in.Shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return nil, fmt.Errorf("shape %v: dimensions must be small non-negative counts", in.Shape)
		}
		n *= d
	}
	var elems [][]byte
	if size, ok := in.Parameters["binary_data_size"]; ok {
		f, isNum := size.(float64)
		if !isNum || f < 0 || f != float64(int(f)) || int(f) != len(rest) {
			return nil, fmt.Errorf("binary_data_size %v: must be the %d bytes of binary data", size, len(rest))
		}
		var err error
		if elems, err = splitBytes(rest); err != nil {
			return nil, err
		}
	} else {
		var data []string
		if err := json.Unmarshal(in.Data, &data); err != nil {
			return nil, fmt.Errorf("data must be a flat list of strings: %v", err)
		}
		for i, s := range data {
			b, err := fromString(s)
			if err != nil {
				return nil, fmt.Errorf("element %d: %v", i, err)
			}
			elems = append(elems, b)
		}
	}
	if int64(len(elems)) != n {
		return nil, fmt.Errorf("shape %v needs %d elements, the data holds %d", in.Shape, n, len(elems))
	}
	return elems, nil
}

// splitBytes splits the v2 binary BYTES layout into its elements.
func splitBytes(raw []byte) ([][]byte, error) {
	var elems [][]byte
	for len(raw) > 0 {
		if len(raw) < 4 {
			return nil, fmt.Errorf("element %d: %d bytes left, short of a 4-byte length", len(elems), len(raw))
		}
		n := binary.LittleEndian.Uint32(raw)
		if uint64(n) > uint64(len(raw)-4) {
			return nil, fmt.Errorf("element %d: length %d, but %d bytes are left", len(elems), n, len(raw)-4)
		}
		elems, raw = append(elems, raw[4:4+n]), raw[4+n:]
	}
	return elems, nil
}

// joinBytes is the v2 binary BYTES layout of elems.
func joinBytes(elems []string) []byte {
	var out []byte
	for _, e := range elems {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e)))
		out = append(out, e...)
	}
	return out
}

// classValues are the outputs of classified images: "probs" and "label".
func classValues(results []classify.Classification) map[string]value {
	n := int64(len(results))
	classes := 0
	if n > 0 {
		classes = len(results[0].Probs)
	}
	probs := make([]float32, 0, int(n)*classes)
	labels := make([]string, len(results))
	for i, c := range results {
		probs = append(probs, c.Probs...)
		labels[i] = c.Label
	}
	return map[string]value{
		"probs": tensorValue(&model.Tensor{Shape: model.Shape{n, int64(classes)}, Data: probs}),
		"label": {shape: []int64{n}, datatype: "BYTES",
			json: func() any { return labels }, binary: func() []byte { return joinBytes(labels) }},
	}
}
