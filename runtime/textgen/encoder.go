package textgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Input encodings: the metadata key input_encoding, and what Encoder.Name says.
const (
	EncodingOneHot   = model.EncodingOneHot   // float32 [batch, time, V], one 1 per step
	EncodingTokenIDs = model.EncodingTokenIDs // int32, int64 or float32 [batch, time]: the ids themselves
)

// Encoder writes token ids into a model's main input tensor. Put is called on
// every generated token, so it must not allocate.
type Encoder interface {
	// Name is the input_encoding it implements, such as "one_hot".
	Name() string
	// New allocates an input of n rows of t steps.
	New(n, t int) *model.Tensor
	// Wrap views data (from New's Data, or a prefix of it) as n rows of t steps.
	Wrap(data any, n, t int) *model.Tensor
	// Put writes id at step p of the flattened [rows * steps] positions of x;
	// a negative id pads (no token: an all-zero one-hot, or the pad id).
	Put(x *model.Tensor, p, id int)
	// Copy moves step from to step to, within x.
	Copy(x *model.Tensor, to, from int)
}

// EncoderFactory builds an encoder for a model input and a vocabulary of V
// entries, or says why that input does not take this encoding. pad is the id
// that fills a short window of a fixed-length token model.
type EncoderFactory func(in model.TensorInfo, V, pad int) (Encoder, error)

// encoders are the known encodings, by name; RegisterEncoder adds more.
var encoders = map[string]EncoderFactory{
	EncodingOneHot:   newOneHot,
	EncodingTokenIDs: newTokenIDs,
}

// RegisterEncoder adds an input encoding (call it from an init function): a
// model whose metadata declares input_encoding name then runs through f.
func RegisterEncoder(name string, f EncoderFactory) { encoders[name] = f }

// Encodings lists the known input encodings, sorted.
func Encodings() []string { return slices.Sorted(maps.Keys(encoders)) }

// encodingFor names the encoding of an input: declared (the metadata's
// input_encoding), else float [b,t,V] is one-hot and any [b,t] is token ids.
func encodingFor(in model.TensorInfo, declared string) (string, error) {
	if declared != "" {
		if _, ok := encoders[declared]; !ok {
			return "", fmt.Errorf("input_encoding %q: want one of %s", declared, strings.Join(Encodings(), ", "))
		}
		return declared, nil
	}
	switch {
	case in.Type == model.Float32 && len(in.Shape) == 3:
		return EncodingOneHot, nil
	case len(in.Shape) == 2 && (in.Type == model.Int32 || in.Type == model.Int64 || in.Type == model.Float32):
		return EncodingTokenIDs, nil
	}
	return "", fmt.Errorf("input %s is neither float32 [batch, time, vocab] (one-hot) nor int32, int64 or float32 [batch, time] (token ids)", in)
}

// oneHot is float32 [batch, time, V].
type oneHot struct{ V int }

func newOneHot(in model.TensorInfo, V, _ int) (Encoder, error) {
	if in.Type != model.Float32 || len(in.Shape) != 3 {
		return nil, fmt.Errorf("one-hot input %s must be float32 [batch, time, vocab]", in)
	}
	if w := in.Shape[2]; w >= 0 && w != int64(V) {
		return nil, fmt.Errorf("%w: input %s is %d wide but the vocabulary has %d entries", ErrVocabSize, in, w, V)
	}
	return oneHot{V: V}, nil
}

func (e oneHot) Name() string { return EncodingOneHot }

func (e oneHot) New(n, t int) *model.Tensor {
	return e.Wrap(make([]float32, n*t*e.V), n, t)
}

func (e oneHot) Wrap(data any, n, t int) *model.Tensor {
	return &model.Tensor{Shape: model.Shape{int64(n), int64(t), int64(e.V)}, Data: data.([]float32)[:n*t*e.V]}
}

func (e oneHot) Put(x *model.Tensor, p, id int) {
	row := x.Data.([]float32)[p*e.V : (p+1)*e.V]
	clear(row)
	if id >= 0 {
		row[id] = 1
	}
}

func (e oneHot) Copy(x *model.Tensor, to, from int) {
	d := x.Data.([]float32)
	copy(d[to*e.V:(to+1)*e.V], d[from*e.V:(from+1)*e.V])
}

// idType is what a token-id input may hold.
type idType interface{ int32 | int64 | float32 }

// tokenIDs is [batch, time] of int32, int64 or float32 (as a bare Keras
// model.export writes an Embedding model's input).
type tokenIDs[T idType] struct{ pad T }

func newTokenIDs(in model.TensorInfo, _, pad int) (Encoder, error) {
	if len(in.Shape) != 2 {
		return nil, fmt.Errorf("token-id input %s must be [batch, time]", in)
	}
	switch in.Type {
	case model.Int32:
		return tokenIDs[int32]{pad: int32(pad)}, nil
	case model.Int64:
		return tokenIDs[int64]{pad: int64(pad)}, nil
	case model.Float32:
		return tokenIDs[float32]{pad: float32(pad)}, nil
	}
	return nil, fmt.Errorf("token-id input %s must hold int32, int64 or float32", in)
}

func (e tokenIDs[T]) Name() string { return EncodingTokenIDs }

func (e tokenIDs[T]) New(n, t int) *model.Tensor { return e.Wrap(make([]T, n*t), n, t) }

func (e tokenIDs[T]) Wrap(data any, n, t int) *model.Tensor {
	return &model.Tensor{Shape: model.Shape{int64(n), int64(t)}, Data: data.([]T)[:n*t]}
}

func (e tokenIDs[T]) Put(x *model.Tensor, p, id int) {
	v := e.pad
	if id >= 0 {
		v = T(id)
	}
	x.Data.([]T)[p] = v
}

func (e tokenIDs[T]) Copy(x *model.Tensor, to, from int) {
	d := x.Data.([]T)
	d[to] = d[from]
}

// encode writes ids as the rows of x, each of len(ids)/rows steps.
func encode(e Encoder, x *model.Tensor, ids []int) {
	for p, id := range ids {
		e.Put(x, p, id)
	}
}
