package infer

import (
	"fmt"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// checkAgainst refuses values that contradict the signature, naming the
// value, where it came from and the tensor it contradicts.
func checkAgainst(sig model.Signature, md model.Metadata, vs Values) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", model.ErrBadModel, vs[key].Source, fmt.Sprintf(format, args...))
	}
	var in, out model.TensorInfo
	var ok bool
	if md.Input != "" {
		if in, ok = sig.Input(md.Input); !ok {
			return bad("input", "input %q is not an input of the model (inputs: %s)", md.Input, describe(sig.Inputs))
		}
	}
	if md.Output != "" {
		if out, ok = sig.Output(md.Output); !ok {
			return bad("output", "output %q is not an output of the model (outputs: %s)", md.Output, describe(sig.Outputs))
		}
	}
	for i, name := range md.StateInputs {
		if _, ok := sig.Input(name); !ok {
			return bad("state_inputs", "state input %q is not an input of the model (inputs: %s)", name, describe(sig.Inputs))
		}
		if _, ok := sig.Output(md.StateOutputs[i]); !ok {
			return bad("state_outputs", "state output %q is not an output of the model (outputs: %s)", md.StateOutputs[i], describe(sig.Outputs))
		}
	}
	switch md.Task {
	case model.TaskImageClassification:
		return checkImage(md, in, out, bad)
	case model.TaskTextGeneration:
		return checkText(md, in, out, bad)
	}
	return nil
}

type badFunc func(key, format string, args ...any) error

func checkImage(md model.Metadata, in, out model.TensorInfo, bad badFunc) error {
	if len(out.Shape) == 2 && out.Shape[1] > 0 && len(md.Labels) > 0 && int64(len(md.Labels)) != out.Shape[1] {
		return bad("labels", "%d labels, but output %s has %d classes", len(md.Labels), out, out.Shape[1])
	}
	h, w, ok := imageDims(in)
	if !ok {
		return nil
	}
	if md.ImageHeight > 0 && h > 0 && int64(md.ImageHeight) != h {
		return bad("image_height", "image_height %d, but input %s is %d high", md.ImageHeight, in, h)
	}
	if md.ImageWidth > 0 && w > 0 && int64(md.ImageWidth) != w {
		return bad("image_width", "image_width %d, but input %s is %d wide", md.ImageWidth, in, w)
	}
	return nil
}

func checkText(md model.Metadata, in, out model.TensorInfo, bad badFunc) error {
	if v, what := vocabWidth(md, in, out); v > 0 && len(md.Vocab) > 0 && int64(len(md.Vocab)) != v {
		return bad("vocab", "the vocabulary has %d entries, but %s (V = %d)", len(md.Vocab), what, v)
	}
	if md.WindowLength > 0 && len(in.Shape) >= 2 && in.Shape[1] > 0 && int64(md.WindowLength) != in.Shape[1] {
		return bad("window_length", "window_length %d, but input %s takes exactly %d steps", md.WindowLength, in, in.Shape[1])
	}
	return nil
}

// vocabWidth is V as the signature fixes it: the one-hot input's width, else
// the output's last dimension; 0 when dynamic.
func vocabWidth(md model.Metadata, in, out model.TensorInfo) (int64, string) {
	if md.InputEncoding != model.EncodingTokenIDs && len(in.Shape) == 3 && in.Shape[2] > 0 {
		return in.Shape[2], fmt.Sprintf("input %s is %d wide", in, in.Shape[2])
	}
	if n := len(out.Shape); n >= 2 && out.Shape[n-1] > 0 {
		return out.Shape[n-1], fmt.Sprintf("output %s has %d classes", out, out.Shape[n-1])
	}
	return 0, ""
}
