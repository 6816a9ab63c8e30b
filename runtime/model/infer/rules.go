package infer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// rules fills the keys the layers leave out from the signature.
type rules struct {
	path     string
	sig      model.Signature
	md       model.Metadata
	set      Values
	taskNote string // why the task could not be inferred
}

// put sets key unless a layer set it.
func (r *rules) put(key, val, why string) {
	if _, ok := r.set[key]; !ok {
		r.set[key] = Value{val, why}
	}
}

func (r *rules) infer() {
	stateIn, stateOut := r.statePairs()
	in, out, err := r.mainTensors(stateIn, stateOut)
	task := r.md.Task
	if err == nil && task == "" {
		task, err = guessTask(in, out, r.imageHints())
	}
	if err != nil {
		if task == "" {
			r.taskNote = "not inferred: " + err.Error()
		}
		return
	}
	r.put("task", task, fmt.Sprintf("inferred from input %s and output %s", in, out))
	r.put("input", in.Name, "inferred: the only input that is not state")
	r.put("output", out.Name, "inferred: the only output that is not state")
	if _, ok := r.set["output_kind"]; !ok {
		kind, why := readGraph(r.path).outputKind(out.Name)
		r.put("output_kind", kind, why)
	}
	switch task {
	case model.TaskImageClassification:
		r.image(in, out)
	case model.TaskTextGeneration:
		r.text(in, stateIn, stateOut)
	}
}

// statePairs are the metadata's state tensors, else each input N with an
// output N_out (the contract's naming).
func (r *rules) statePairs() (in, out []string) {
	if len(r.md.StateInputs) > 0 {
		return r.md.StateInputs, r.md.StateOutputs
	}
	for _, t := range r.sig.Inputs {
		if _, ok := r.sig.Output(t.Name + "_out"); ok && t.Name != r.md.Input {
			in, out = append(in, t.Name), append(out, t.Name+"_out")
		}
	}
	return in, out
}

// mainTensors picks the main input and output: as named, else the only one
// that is not state.
func (r *rules) mainTensors(stateIn, stateOut []string) (model.TensorInfo, model.TensorInfo, error) {
	in, err := pick("input", r.md.Input, r.sig.Inputs, stateIn)
	if err != nil {
		return in, model.TensorInfo{}, err
	}
	out, err := pick("output", r.md.Output, r.sig.Outputs, stateOut)
	return in, out, err
}

func pick(kind, named string, list []model.TensorInfo, state []string) (model.TensorInfo, error) {
	var cands []model.TensorInfo
	for _, t := range list {
		if (named == "" && !slices.Contains(state, t.Name)) || t.Name == named {
			cands = append(cands, t)
		}
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	if named != "" {
		return model.TensorInfo{}, fmt.Errorf("%s %q is not an %s of the model (%ss: %s)", kind, named, kind, kind, describe(list))
	}
	return model.TensorInfo{}, fmt.Errorf("model has %d %ss that are not state (%s); name the main one (%q in a sidecar) and pass --task", len(cands), kind, describe(cands), kind)
}

func describe(list []model.TensorInfo) string {
	s := make([]string, len(list))
	for i, t := range list {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// imageHints reports whether a layer set a key only image models have.
func (r *rules) imageHints() bool {
	for _, k := range []string{"labels", "image_height", "image_width", "input_mean", "input_std", "ink"} {
		if _, ok := r.set[k]; ok {
			return true
		}
	}
	return false
}

// guessTask tells the task from the main input and output shapes. A float
// [N,T,V] input with a V-way output is a one-hot text model, even when it
// also fits an image classifier ([N,H,W] in, [N,K] out with K = W), unless
// image keys are set (labels, image size, scaling, ink).
func guessTask(in, out model.TensorInfo, imageHints bool) (string, error) {
	image, text := isImage(in, out), isText(in, out)
	switch {
	case image && text && imageHints:
		return model.TaskImageClassification, nil
	case text:
		return model.TaskTextGeneration, nil
	case image:
		return model.TaskImageClassification, nil
	}
	return "", fmt.Errorf("input %s and output %s fit no task rnnrun knows (an image classifier: float [N,H,W], [N,H,W,1] or [N,1,H,W] in, [N,K] out; a text model: float [N,T,V] or int [N,T] in, V-way out); pass --task", in, out)
}

// imageDims returns the height and width of an image input, and whether it is one.
func imageDims(in model.TensorInfo) (h, w int64, ok bool) {
	s := in.Shape
	if in.Type != model.Float32 {
		return 0, 0, false
	}
	switch {
	case len(s) == 3:
		return s[1], s[2], true
	case len(s) == 4 && s[3] == 1:
		return s[1], s[2], true
	case len(s) == 4 && s[1] == 1:
		return s[2], s[3], true
	}
	return 0, 0, false
}

func isImage(in, out model.TensorInfo) bool {
	h, w, ok := imageDims(in)
	return ok && h > 0 && w > 0 && len(out.Shape) == 2
}

func isText(in, out model.TensorInfo) bool {
	if len(out.Shape) < 2 || len(out.Shape) > 3 {
		return false
	}
	v := out.Shape[len(out.Shape)-1]
	switch {
	case in.Type == model.Float32 && len(in.Shape) == 3:
		return in.Shape[2] > 0 && (v < 0 || v == in.Shape[2])
	case len(in.Shape) == 2:
		return in.Type == model.Int32 || in.Type == model.Int64 || in.Type == model.Float32
	}
	return false
}

// image fills the image keys: the size from the input, the tutorial's
// scaling (pixel / 255) and ink (light on dark), labels "0".."K-1".
func (r *rules) image(in, out model.TensorInfo) {
	h, w, _ := imageDims(in)
	from := "inferred from input " + in.String()
	if h > 0 {
		r.put("image_height", strconv.FormatInt(h, 10), from)
	}
	if w > 0 {
		r.put("image_width", strconv.FormatInt(w, 10), from)
	}
	_, mean := r.set["input_mean"]
	_, std := r.set["input_std"]
	if !mean && !std {
		r.put("input_mean", "0", "default: pixel / 255, as the tutorial")
		r.put("input_std", "255", "default: pixel / 255, as the tutorial")
	}
	r.put("ink", "light-on-dark", "default: light ink on dark, as MNIST")
	if k := out.Shape[1]; k > 0 {
		labels := make([]string, k)
		for i := range labels {
			labels[i] = strconv.Itoa(i)
		}
		text, _ := compactJSON(labels)
		r.put("labels", text, fmt.Sprintf("default: \"0\"..\"%d\" for the %d classes of output %s", k-1, k, out))
	}
}

// text fills the text keys: the encoding from the input, the window from a
// fixed time dimension, the state pairs found by name.
func (r *rules) text(in model.TensorInfo, stateIn, stateOut []string) {
	from := "inferred from input " + in.String()
	if len(in.Shape) == 2 {
		r.put("input_encoding", model.EncodingTokenIDs, from+" (token ids)")
	} else {
		r.put("input_encoding", model.EncodingOneHot, from+" (one-hot rows)")
	}
	if len(in.Shape) >= 2 && in.Shape[1] > 0 {
		r.put("window_length", strconv.FormatInt(in.Shape[1], 10), from+": a fixed time dimension")
	}
	if len(stateIn) > 0 && len(r.md.StateInputs) == 0 {
		why := "inferred from the names: each input N with an output N_out"
		a, _ := compactJSON(stateIn)
		b, _ := compactJSON(stateOut)
		r.put("state_inputs", a, why)
		r.put("state_outputs", b, why)
		if t, ok := r.sig.Input(stateIn[0]); ok && len(t.Shape) == 2 && t.Shape[1] > 0 {
			r.put("state_size", strconv.FormatInt(t.Shape[1], 10), "inferred from state input "+t.String())
		}
	}
}
