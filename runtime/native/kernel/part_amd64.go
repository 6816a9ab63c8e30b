//go:build goexperiment.simd && amd64 && !purego

package kernel

import (
	"simd/archsimd"
	"unsafe"
)

// Masked loads and stores of a ragged end: the first len(s) lanes, zeros in the
// rest on load. archsimd's own LoadFloat32x16SlicePart and StoreSlicePart type
// the slice as a full array, which checkptr (on under -race) rejects when the
// slice ends at the end of its allocation ("converted pointer straddles multiple
// allocations"), so these do the same without checkptr: the masked instruction
// touches only the lanes inside s.

var iota32 = [16]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// arr16, arr8 and arr4 type the start of s as an array for a masked access.
//
//go:nocheckptr
func arr16(s []float32) *[16]float32 { return (*[16]float32)(unsafe.Pointer(unsafe.SliceData(s))) }

//go:nocheckptr
func arr8(s []float32) *[8]float32 { return (*[8]float32)(unsafe.Pointer(unsafe.SliceData(s))) }

//go:nocheckptr
func arr4(s []float32) *[4]float32 { return (*[4]float32)(unsafe.Pointer(unsafe.SliceData(s))) }

func mask16(n int) archsimd.Mask32x16 { return archsimd.Mask32x16FromBits(uint16(1)<<n - 1) }

// tailMask8 and mask4 build the mask of the first n lanes by a compare, which
// AVX2 has (Mask32x8FromBits needs AVX-512).
func tailMask8(n int) archsimd.Mask32x8 {
	return archsimd.LoadInt32x8((*[8]int32)(iota32[:8])).Less(archsimd.BroadcastInt32x8(int32(n)))
}

func mask4(n int) archsimd.Mask32x4 {
	return archsimd.LoadInt32x4((*[4]int32)(iota32[:4])).Less(archsimd.BroadcastInt32x4(int32(n)))
}

func loadPart16(s []float32) archsimd.Float32x16 {
	if len(s) >= 16 {
		return archsimd.LoadFloat32x16Slice(s)
	}
	var z archsimd.Float32x16
	if len(s) == 0 {
		return z
	}
	return archsimd.LoadMaskedFloat32x16(arr16(s), mask16(len(s)))
}

func storePart16(v archsimd.Float32x16, s []float32) {
	if len(s) >= 16 {
		v.StoreSlice(s)
	} else if len(s) > 0 {
		v.StoreMasked(arr16(s), mask16(len(s)))
	}
}

func loadPart8(s []float32) archsimd.Float32x8 {
	if len(s) >= 8 {
		return archsimd.LoadFloat32x8Slice(s)
	}
	var z archsimd.Float32x8
	if len(s) == 0 {
		return z
	}
	return archsimd.LoadMaskedFloat32x8(arr8(s), tailMask8(len(s)))
}

func storePart8(v archsimd.Float32x8, s []float32) {
	if len(s) >= 8 {
		v.StoreSlice(s)
	} else if len(s) > 0 {
		v.StoreMasked(arr8(s), tailMask8(len(s)))
	}
}

func loadPart4(s []float32) archsimd.Float32x4 {
	if len(s) >= 4 {
		return archsimd.LoadFloat32x4Slice(s)
	}
	var z archsimd.Float32x4
	if len(s) == 0 {
		return z
	}
	return archsimd.LoadMaskedFloat32x4(arr4(s), mask4(len(s)))
}

func storePart4(v archsimd.Float32x4, s []float32) {
	if len(s) >= 4 {
		v.StoreSlice(s)
	} else if len(s) > 0 {
		v.StoreMasked(arr4(s), mask4(len(s)))
	}
}
