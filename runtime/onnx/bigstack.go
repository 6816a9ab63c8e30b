package onnx

/*
#include <stddef.h>
extern int rnnrun_run_on_big_stack(size_t size);
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
)

// ONNX Runtime reads /proc/self/cmdline when it creates its environment and
// matches it recursively, one frame cycle per character (gdb shows a
// three-function cycle inside libonnxruntime, the shape of a backtracking
// regex executor): on the 8 MiB stack of an ordinary thread, a command line
// over about 29 KB overflows it and the process dies with SIGSEGV. So the
// environment is created on a thread of our own whose stack grows with the
// command line (the pages are only reserved, and touched as they are used).

var (
	bigStackMu sync.Mutex // one call at a time: bigStackFn is global
	bigStackFn func()
)

//export rnnrunOnBigStack
func rnnrunOnBigStack() { bigStackFn() }

// stackFor is the stack the start-up needs for a command line of n bytes:
// 16 MiB plus 1 KiB a byte (the overflow came at about 280 bytes a byte),
// at most 2 GiB.
func stackFor(n int) int {
	return min(16<<20+n<<10, 2<<30)
}

// onBigStack runs f on a new OS thread with a stack sized for this
// process's command line, and waits for it.
func onBigStack(f func()) error {
	cmdline, _ := os.ReadFile("/proc/self/cmdline") // none: the smallest stack
	bigStackMu.Lock()
	defer bigStackMu.Unlock()
	bigStackFn = f
	defer func() { bigStackFn = nil }()
	if rc := C.rnnrun_run_on_big_stack(C.size_t(stackFor(len(cmdline)))); rc != 0 {
		return fmt.Errorf("starting a thread for ONNX Runtime's start-up: error %d", int(rc))
	}
	return nil
}
