// Package infer resolves the metadata a model runs with: the file's own
// metadata (models/export/README.md), overridden by a sidecar JSON file beside
// it, the model's config entry and flags, and completed by what the signature
// (and, for ONNX, the graph) implies, with the tutorial's conventions as
// defaults. Every key of the result records where it came from.
//
// Precedence, highest first: flag, config entry, sidecar, the file's own
// metadata, inference.
package infer

import (
	"context"
	"fmt"
	"maps"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Sources of a value.
const (
	SourceMetadata = "metadata"
	sidecarPrefix  = "sidecar "
)

// Value is one metadata value (as the contract writes it: a string, JSON for
// lists) and where it came from.
type Value struct {
	Text   string
	Source string
}

// Values is one layer of metadata values by key.
type Values map[string]Value

// Open opens the model at path with its metadata resolved over layers
// (lowest precedence first: the config entry's values, then the flags').
func Open(ctx context.Context, path string, opts model.Options, layers ...Values) (*model.Model, error) {
	opts.Resolve = Resolver(layers...)
	return model.Open(ctx, path, opts)
}

// Resolver is Resolve over layers, for model.Options.Resolve.
func Resolver(layers ...Values) model.Resolver {
	return func(path string, sig model.Signature, raw map[string]string) (model.Metadata, error) {
		return Resolve(path, sig, raw, layers...)
	}
}

// Resolve computes the metadata of the model at path: file (the map the file
// stores), then its sidecar, then each layer in order, then inference for the
// keys still missing. A value that contradicts the signature is an error
// naming both (and where the value came from).
func Resolve(path string, sig model.Signature, file map[string]string, layers ...Values) (model.Metadata, error) {
	merged := Values{}
	for k, v := range file {
		merged[k] = Value{v, SourceMetadata}
	}
	side, err := ReadSidecar(path)
	if err != nil {
		return model.Metadata{}, err
	}
	for _, l := range append([]Values{side}, layers...) {
		if err := l.check(); err != nil {
			return model.Metadata{}, err
		}
		maps.Copy(merged, l)
	}
	md, err := merged.parse()
	if err != nil {
		return md, err
	}
	r := &rules{path: path, sig: sig, md: md, set: merged}
	r.infer()
	if md, err = merged.parse(); err != nil {
		return md, err
	}
	if err := checkAgainst(sig, md, merged); err != nil {
		return md, err
	}
	md.File = file
	if md.File == nil {
		md.File = map[string]string{}
	}
	md.Sources = map[string]string{}
	for k, v := range merged {
		md.Sources[k] = v.Source
	}
	if r.taskNote != "" {
		md.Sources["task"] = r.taskNote
	}
	return md, nil
}

// Raw returns the values without their sources.
func (vs Values) Raw() map[string]string {
	raw := make(map[string]string, len(vs))
	for k, v := range vs {
		raw[k] = v.Text
	}
	return raw
}

// parse reads the values as the metadata contract.
func (vs Values) parse() (model.Metadata, error) {
	return model.ParseMetadata(vs.Raw())
}

// check parses each value alone, so a malformed one is named with its source.
func (vs Values) check() error {
	for k, v := range vs {
		if _, err := model.ParseMetadata(map[string]string{k: v.Text}); err != nil {
			return fmt.Errorf("%s: %w", v.Source, err)
		}
		if err := checkEnum(k, v.Text); err != nil {
			return fmt.Errorf("%w: %s: %v", model.ErrBadModel, v.Source, err)
		}
	}
	return nil
}

// enums lists the keys whose values are one of a few words. input_encoding is
// checked by textgen, against the encodings registered there; output_kind by
// model.ParseMetadata.
var enums = map[string][]string{
	"task":        {model.TaskTextGeneration, model.TaskImageClassification},
	"ink":         {"light-on-dark", "dark-on-light"},
	"case_policy": {"preserve", "lower"},
}

func checkEnum(key, val string) error {
	want, ok := enums[key]
	if !ok || val == "" {
		return nil
	}
	for _, w := range want {
		if val == w {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want one of %q", key, val, want)
}
