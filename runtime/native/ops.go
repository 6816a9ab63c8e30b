package native

import "sort"

// builders maps each supported op type to the function that checks its node
// and builds its op. Anything else is refused at load.
var builders map[string]func(*nodeCtx) (op, error)

func init() {
	builders = map[string]func(*nodeCtx) (op, error){
		"LSTM": buildRecurrent(cellLSTM),
		"GRU":  buildRecurrent(cellGRU),
		"RNN":  buildRecurrent(cellRNN),

		"Gemm":       buildGemm,
		"MatMul":     buildMatMul,
		"Softmax":    buildSoftmax(false),
		"LogSoftmax": buildSoftmax(true),

		"Add":            newBinary(opAdd),
		"Sub":            newBinary(opSub),
		"Mul":            newBinary(opMul),
		"Div":            newBinary(opDiv),
		"Less":           newBinary(opLess),
		"LessOrEqual":    newBinary(opLessEq),
		"Greater":        newBinary(opGreater),
		"GreaterOrEqual": newBinary(opGreaterEq),
		"Equal":          newBinary(opEqual),
		"And":            newBinary(opAnd),
		"Or":             newBinary(opOr),
		"Xor":            newBinary(opXor),

		"Sigmoid": newUnary(opSigmoid),
		"Tanh":    newUnary(opTanh),
		"Relu":    newUnary(opRelu),
		"Neg":     newUnary(opNeg),
		"Exp":     newUnary(opExp),
		"Log":     newUnary(opLog),
		"Abs":     newUnary(opAbs),
		"Sqrt":    newUnary(opSqrt),
		"Not":     newUnary(opNot),

		"Identity":        buildIdentity,
		"Reshape":         buildReshape,
		"Flatten":         buildFlatten,
		"Squeeze":         buildAxes(true),
		"Unsqueeze":       buildAxes(false),
		"Transpose":       buildTranspose,
		"Slice":           buildSlice,
		"Gather":          buildGather,
		"Concat":          buildConcat,
		"Split":           buildSplit,
		"Shape":           buildShape,
		"Cast":            buildCast,
		"Constant":        buildConstant,
		"ConstantOfShape": buildConstantOfShape,
		"Expand":          buildExpand,
		"Loop":            buildLoop,
	}
}

// Ops lists the op types the native backend implements, sorted.
func Ops() []string {
	list := make([]string, 0, len(builders))
	for k := range builders {
		list = append(list, k)
	}
	sort.Strings(list)
	return list
}
