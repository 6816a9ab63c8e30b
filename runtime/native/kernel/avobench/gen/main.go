// Command gen writes mv/mv_amd64.s and mv/stub_amd64.go (go generate ./mv).

package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	TEXT("mv128", NOSPLIT, "func(y, w, x *float32, rows int)")
	Doc("mv128 sets y[r] = dot(w[r*128:], x[:128]) for r < rows (a multiple of 8).")
	y := Load(Param("y"), GP64())
	w := Load(Param("w"), GP64())
	x := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	xs := []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7}
	accs := []reg.VecPhysical{reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15}
	accY := []reg.VecPhysical{reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	for i, xr := range xs {
		VMOVUPS(Mem{Base: x, Disp: 64 * i}, xr)
	}
	Label("loop")
	CMPQ(rows, Imm(8))
	JL(LabelRef("done"))
	for r, a := range accs {
		VMULPS(Mem{Base: w, Disp: 512 * r}, xs[0], a)
	}
	for c := 1; c < 8; c++ {
		for r, a := range accs {
			VFMADD231PS(Mem{Base: w, Disp: 512*r + 64*c}, xs[c], a)
		}
	}
	// 16 lanes to 8: the upper half of each sum onto its lower half.
	for r, a := range accs {
		VEXTRACTF32X8(Imm(1), a, reg.Y16)
		VADDPS(reg.Y16, accY[r], accY[r])
	}
	// 8 sums of 8 lanes into one vector of 8.
	VHADDPS(accY[1], accY[0], accY[0])
	VHADDPS(accY[3], accY[2], accY[2])
	VHADDPS(accY[5], accY[4], accY[4])
	VHADDPS(accY[7], accY[6], accY[6])
	VHADDPS(accY[2], accY[0], accY[0])
	VHADDPS(accY[6], accY[4], accY[4])
	VPERM2F128(Imm(0x20), accY[4], accY[0], accY[1])
	VPERM2F128(Imm(0x31), accY[4], accY[0], accY[2])
	VADDPS(accY[2], accY[1], accY[1])
	VMOVUPS(accY[1], Mem{Base: y})
	ADDQ(Imm(32), y)
	ADDQ(U32(4096), w)
	SUBQ(Imm(8), rows)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
	Generate()
}
