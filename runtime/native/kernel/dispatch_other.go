//go:build !goexperiment.simd || !amd64 || purego

package kernel

// available lists the kernel sets this build and CPU can run, fastest first.
func available() []impl { return []impl{generic} }

func best() impl { return available()[0] }
