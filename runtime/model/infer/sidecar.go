package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// SidecarPath is where the sidecar of the model at path lives:
// <file>.rnnrun.json, or <folder>.rnnrun.json beside a SavedModel folder.
func SidecarPath(path string) string {
	return strings.TrimRight(path, string(filepath.Separator)) + ".rnnrun.json"
}

// ReadSidecar reads the sidecar of the model at path, if there is one: one
// JSON object with the metadata keys and JSON-typed values (arrays, numbers).
func ReadSidecar(path string) (Values, error) {
	sp := SidecarPath(path)
	data, err := os.ReadFile(sp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: sidecar: %v", model.ErrBadModel, err)
	}
	vs, err := ParseJSON(data, sidecarPrefix+filepath.Base(sp))
	if err != nil {
		return nil, fmt.Errorf("%w: sidecar %s: %v", model.ErrBadModel, sp, err)
	}
	return vs, nil
}

// ParseJSON reads one JSON object of metadata keys into values from source:
// strings are taken as they are, other values as their compact JSON.
func ParseJSON(data []byte, source string) (Values, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("want one JSON object of metadata keys: %v", err)
	}
	if obj == nil {
		return nil, errors.New("want one JSON object of metadata keys, got null")
	}
	vs := Values{}
	for k, v := range obj {
		text, err := jsonText(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k, err)
		}
		vs[k] = Value{text, source}
	}
	return vs, nil
}

// jsonText is a JSON value as a metadata string.
func jsonText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", errors.New("null is not a value")
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return compactJSON(v)
}

// compactJSON is v as compact JSON with non-ASCII characters and <, >, & as they are.
func compactJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
