package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Tasks a model's metadata can declare.
const (
	TaskTextGeneration      = "text-generation"
	TaskImageClassification = "image-classification"
)

// Input encodings of a text model's main input.
const (
	EncodingOneHot   = "one_hot"   // float32 [batch, time, V], one-hot rows
	EncodingTokenIDs = "token_ids" // [batch, time] of vocabulary indices (int32, int64 or float32)
)

// Output kinds.
const (
	OutputProbabilities = "probabilities"
	OutputLogits        = "logits"
)

// Metadata is the parsed form of the metadata contract in models/export/README.md.
// Raw keeps every key as the model stored it, including keys rnnrun does not know.
type Metadata struct {
	// Raw holds every key as resolved: the file's own map, overridden by the
	// sidecar, the config and flags, completed by inference (see Sources).
	Raw map[string]string `json:"raw,omitempty"`
	// File is the map the model file itself stores (metadata_props, or a
	// SavedModel's assets/rnnrun.json), as a resolution found it; nil when
	// no resolution ran (ParseMetadata alone: then Raw is that map).
	File map[string]string `json:"file,omitempty"`
	// Sources says, per metadata key, where the value came from ("metadata",
	// "sidecar m.onnx.rnnrun.json", `config entry "x" (labels)`, "flag --labels",
	// "inferred from ..."); "task" may also explain why no task was found.
	// Empty when no resolution ran (ParseMetadata alone).
	Sources map[string]string `json:"sources,omitempty"`

	Name       string `json:"name,omitempty"`
	Task       string `json:"task,omitempty"`
	Input      string `json:"input,omitempty"`
	Output     string `json:"output,omitempty"`
	OutputKind string `json:"output_kind,omitempty"`

	// Text generation.
	Vocab         []string `json:"vocab,omitempty"`
	InputEncoding string   `json:"input_encoding,omitempty"` // EncodingOneHot, EncodingTokenIDs or one registered in textgen (checked there); empty: from the signature
	WindowLength  int      `json:"window_length,omitempty"`
	CasePolicy    string   `json:"case_policy,omitempty"`
	StateInputs   []string `json:"state_inputs,omitempty"`
	StateOutputs  []string `json:"state_outputs,omitempty"`
	StateSize     int      `json:"state_size,omitempty"`

	// Image classification.
	Labels      []string `json:"labels,omitempty"`
	ImageHeight int      `json:"image_height,omitempty"`
	ImageWidth  int      `json:"image_width,omitempty"`
	InputMean   float32  `json:"input_mean"`
	InputStd    float32  `json:"input_std"`
	Ink         string   `json:"ink,omitempty"`
	EvalCorrect int      `json:"eval_correct,omitempty"`
	EvalTotal   int      `json:"eval_total,omitempty"`
}

// ParseMetadata reads the contract keys from raw. Unknown keys are kept in Raw;
// a known key with a malformed value is an error naming the key.
func ParseMetadata(raw map[string]string) (Metadata, error) {
	m := Metadata{Raw: raw, InputStd: 1}
	if raw == nil {
		m.Raw = map[string]string{}
		return m, nil
	}
	m.Name = raw["name"]
	m.Task = raw["task"]
	m.Input = raw["input"]
	m.Output = raw["output"]
	m.OutputKind = raw["output_kind"]
	m.CasePolicy = raw["case_policy"]
	m.Ink = raw["ink"]
	m.InputEncoding = raw["input_encoding"]
	var errs []error
	jsonKey := func(key string, dst any) {
		if v, ok := raw[key]; ok && v != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				errs = append(errs, fmt.Errorf("metadata key %q: %v", key, err))
			}
		}
	}
	intKey := func(key string, dst *int) {
		if v, ok := raw[key]; ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("metadata key %q: %q is not a non-negative integer", key, v))
				return
			}
			*dst = n
		}
	}
	floatKey := func(key string, dst *float32) {
		if v, ok := raw[key]; ok && v != "" {
			f, err := strconv.ParseFloat(v, 32)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata key %q: %q is not a number", key, v))
				return
			}
			*dst = float32(f)
		}
	}
	jsonKey("vocab", &m.Vocab)
	jsonKey("state_inputs", &m.StateInputs)
	jsonKey("state_outputs", &m.StateOutputs)
	jsonKey("labels", &m.Labels)
	intKey("window_length", &m.WindowLength)
	intKey("state_size", &m.StateSize)
	intKey("image_height", &m.ImageHeight)
	intKey("image_width", &m.ImageWidth)
	intKey("eval_correct", &m.EvalCorrect)
	intKey("eval_total", &m.EvalTotal)
	floatKey("input_mean", &m.InputMean)
	floatKey("input_std", &m.InputStd)
	if len(errs) > 0 {
		return m, fmt.Errorf("%w: %v", ErrBadModel, errs[0])
	}
	if m.InputStd == 0 {
		return m, fmt.Errorf("%w: metadata key %q: must not be 0", ErrBadModel, "input_std")
	}
	if len(m.StateInputs) != len(m.StateOutputs) {
		return m, fmt.Errorf("%w: metadata lists %d state inputs but %d state outputs", ErrBadModel, len(m.StateInputs), len(m.StateOutputs))
	}
	switch m.OutputKind {
	case "", OutputProbabilities, OutputLogits:
	default:
		return m, fmt.Errorf("%w: metadata key %q: unknown value %q (want %q or %q)", ErrBadModel, "output_kind", m.OutputKind, OutputProbabilities, OutputLogits)
	}
	return m, nil
}

// Keys returns the raw keys in sorted order.
func (m Metadata) Keys() []string {
	keys := make([]string, 0, len(m.Raw))
	for k := range m.Raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
