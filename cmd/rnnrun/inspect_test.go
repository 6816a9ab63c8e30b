package main

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rnnrun/rnnrun/internal/onnxtest"
	"github.com/rnnrun/rnnrun/runtime/native/onnxpb"
	"github.com/rnnrun/rnnrun/runtime/onnx"
)

// padModel writes a one-node model native does not run (Pad).
func padModel(t *testing.T) string {
	g := &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Node:        []*onnxpb.NodeProto{onnxtest.Node("Pad", "pad", []string{"x", "pads"}, []string{"y"})},
		Initializer: []*onnxpb.TensorProto{onnxtest.Int64s("pads", []int64{4}, []int64{0, 1, 0, 1})},
		Input:       []*onnxpb.ValueInfoProto{onnxtest.ValueInfo("x", onnxpb.TensorProto_FLOAT, -1, -1)},
		Output:      []*onnxpb.ValueInfoProto{onnxtest.ValueInfo("y", onnxpb.TensorProto_FLOAT, -1, -1)},
	}
	return onnxtest.WriteModel(t, "pad.onnx", g, 17)
}

// inspect says which backend auto chose and which node stops native; in a
// cgo-free binary the same model fails with native's error naming the node.
func TestInspectNamesTheNodeThatStopsNative(t *testing.T) {
	path := padModel(t)
	if onnx.Enabled {
		r := runBinary(t, nil, "inspect", "--json", "--model", path)
		var got inspection
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("exit %d, %v: %q %q", r.code, err, r.stdout, r.stderr)
		}
		if got.Backend != "onnx" || !got.Auto || len(got.Refused) != 1 || got.Refused[0].Backend != "native" ||
			got.Refused[0].Node != "pad" || got.Refused[0].Op != "Pad" || !strings.Contains(got.Refused[0].Error, "pad.onnx") {
			t.Fatalf("inspect --json: %+v", got)
		}
		text := runBinary(t, nil, "inspect", "--model", path)
		if !strings.Contains(text.stdout, "backend  onnx (chosen by --backend auto)\n  not native: ") || !strings.Contains(text.stdout, `node "pad" (Pad)`) {
			t.Fatalf("inspect:\n%s", text.stdout)
		}
		if r := runBinary(t, nil, "inspect", "--json", "--backend", "onnx", "--model", path); !strings.Contains(r.stdout, `"auto": false`) || strings.Contains(r.stdout, "refused") {
			t.Fatalf("inspect --backend onnx: %s", r.stdout)
		}
	}
	r := execBinary(t, buildNoCgo(t), "", noLibrary, "inspect", "--model", path)
	if r.code == 0 || !strings.Contains(r.stderr, `node "pad" (Pad)`) || !strings.Contains(r.stderr, "not supported by the native backend") {
		t.Fatalf("cgo-free inspect: exit %d, stderr %q", r.code, r.stderr)
	}
}
