//go:build goexperiment.simd && amd64 && !purego

package kernel

var (
	addBias16, addBias8   = addBiasGeneric, addBiasGeneric
	sigmoid16, sigmoid8   = sigmoidGeneric, sigmoidGeneric
	tanh16, tanh8         = tanhGeneric, tanhGeneric
	softmax16, softmax8   = softmaxGeneric, softmaxGeneric
	lstmCell16, lstmCell8 = lstmCellGeneric, lstmCellGeneric
)
