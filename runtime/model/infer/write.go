package infer

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
)

// Write makes a copy of the model at in, at out, whose own metadata is raw:
// an ONNX file's metadata_props replaced, or a SavedModel folder copied with
// raw as its assets/rnnrun.json. out must not exist.
func Write(in, out string, raw map[string]string) error {
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("%w: %v", model.ErrBadModel, err)
	}
	if st.IsDir() {
		return writeSavedModel(in, out, raw)
	}
	return writeONNX(in, out, raw)
}

func writeONNX(in, out string, raw map[string]string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil || m.GetGraph() == nil {
		return fmt.Errorf("%w: %s is not an ONNX model: %v", model.ErrBadModel, in, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m.MetadataProps = nil
	for _, k := range keys {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(raw[k])})
	}
	b, err := proto.Marshal(&m)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

func writeSavedModel(in, out string, raw map[string]string) error {
	if _, err := os.Stat(filepath.Join(in, "saved_model.pb")); err != nil {
		return fmt.Errorf("%w: %s is a folder without saved_model.pb", model.ErrBadModel, in)
	}
	if err := os.CopyFS(out, os.DirFS(in)); err != nil {
		return err
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	asset := filepath.Join(out, "assets", "rnnrun.json")
	if err := os.MkdirAll(filepath.Dir(asset), 0o755); err != nil {
		return err
	}
	return os.WriteFile(asset, append(b, '\n'), fs.FileMode(0o644))
}
