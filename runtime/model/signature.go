package model

import (
	"fmt"
	"strings"
)

// TensorInfo describes one input or output of a model.
type TensorInfo struct {
	Name  string `json:"name"`
	Type  DType  `json:"-"`
	Shape Shape  `json:"shape"` // -1 marks a dynamic dimension
}

// Signature lists a model's inputs and outputs in the model's own order.
type Signature struct {
	Inputs  []TensorInfo `json:"inputs"`
	Outputs []TensorInfo `json:"outputs"`
}

// Input returns the input named name.
func (s Signature) Input(name string) (TensorInfo, bool) { return find(s.Inputs, name) }

// Output returns the output named name.
func (s Signature) Output(name string) (TensorInfo, bool) { return find(s.Outputs, name) }

func find(list []TensorInfo, name string) (TensorInfo, bool) {
	for _, t := range list {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

func (t TensorInfo) String() string { return fmt.Sprintf("%s %s%v", t.Name, t.Type, t.Shape) }

// CheckInputs validates named input tensors against the signature: every input
// present, no unknown names, matching element types, ranks and static dimensions.
func (s Signature) CheckInputs(inputs map[string]*Tensor) error {
	for _, in := range s.Inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return fmt.Errorf("%w: missing input %q (model inputs: %s)", ErrBadInput, in.Name, names(s.Inputs))
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("%w: input %q: %v", ErrBadInput, in.Name, err)
		}
		if err := in.accepts(t); err != nil {
			return fmt.Errorf("%w: input %q: %v", ErrBadInput, in.Name, err)
		}
	}
	if len(inputs) != len(s.Inputs) {
		for name := range inputs {
			if _, ok := s.Input(name); !ok {
				return fmt.Errorf("%w: unknown input %q (model inputs: %s)", ErrBadInput, name, names(s.Inputs))
			}
		}
	}
	return nil
}

// accepts reports whether t fits this tensor description.
func (in TensorInfo) accepts(t *Tensor) error {
	if in.Type != Unknown && t.DType() != in.Type {
		return fmt.Errorf("element type %s, model wants %s", t.DType(), in.Type)
	}
	if len(in.Shape) > 0 && len(t.Shape) != len(in.Shape) {
		return fmt.Errorf("shape %v has rank %d, model wants %v", t.Shape, len(t.Shape), in.Shape)
	}
	for i, d := range in.Shape {
		if d >= 0 && t.Shape[i] != d {
			return fmt.Errorf("shape %v, model wants %v (dimension %d must be %d)", t.Shape, in.Shape, i, d)
		}
	}
	return nil
}

func names(list []TensorInfo) string {
	n := make([]string, len(list))
	for i, t := range list {
		n[i] = t.Name
	}
	return strings.Join(n, ", ")
}
