package kernel

import "math"

func matVecGeneric(y, w, x, b []float32, rows, cols int) {
	x = x[:cols]
	for i := 0; i < rows; i++ {
		var s float32
		if b != nil {
			s = b[i]
		}
		s += dot(w[i*cols:i*cols+cols], x)
		y[i] = s
	}
}

func matVecAddGeneric(y, w, x []float32, rows, cols int) {
	x = x[:cols]
	for i := 0; i < rows; i++ {
		y[i] += dot(w[i*cols:i*cols+cols], x)
	}
}

func gemmNTGeneric(c, a, b []float32, m, n, k int, acc bool) {
	for i := 0; i < m; i++ {
		ai := a[i*k : i*k+k]
		ci := c[i*n : i*n+n]
		for j := 0; j < n; j++ {
			s := dot(b[j*k:j*k+k], ai)
			if acc {
				s += ci[j]
			}
			ci[j] = s
		}
	}
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func addBiasGeneric(x, b []float32, m, n int) {
	b = b[:n]
	for i := 0; i < m; i++ {
		row := x[i*n : i*n+n]
		for j, v := range b {
			row[j] += v
		}
	}
}

func sigmoidGeneric(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = sigmoid1(v)
	}
}

func sigmoid1(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) }

func tanhGeneric(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(math.Tanh(float64(v)))
	}
}

func softmaxGeneric(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		x[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

func lstmCellGeneric(g, c, h []float32, hidden int) {
	gi, go_, gf, gc := g[:hidden], g[hidden:2*hidden], g[2*hidden:3*hidden], g[3*hidden:4*hidden]
	c, h = c[:hidden], h[:hidden]
	for j := 0; j < hidden; j++ {
		i := sigmoid1(gi[j])
		o := sigmoid1(go_[j])
		f := sigmoid1(gf[j])
		z := float32(math.Tanh(float64(gc[j])))
		cj := f*c[j] + i*z
		c[j] = cj
		h[j] = o * float32(math.Tanh(float64(cj)))
	}
}

// oneHotGeneric tests 8 values at a time by OR-ing their bits without the
// sign (2x faster than a test per value here), then looks inside a block
// that has any nonzero.
func oneHotGeneric(x []float32) int {
	const mag = 0x7fffffff
	at := -1
	k := 0
	for ; k+8 <= len(x); k += 8 {
		r := x[k : k+8]
		or := math.Float32bits(r[0]) | math.Float32bits(r[1]) | math.Float32bits(r[2]) | math.Float32bits(r[3]) |
			math.Float32bits(r[4]) | math.Float32bits(r[5]) | math.Float32bits(r[6]) | math.Float32bits(r[7])
		if or&mag == 0 {
			continue
		}
		for j, v := range r {
			if math.Float32bits(v)&mag != 0 {
				if at >= 0 || v != 1 {
					return -1
				}
				at = k + j
			}
		}
	}
	for ; k < len(x); k++ {
		if v := x[k]; math.Float32bits(v)&mag != 0 {
			if at >= 0 || v != 1 {
				return -1
			}
			at = k
		}
	}
	return at
}

// cellAdd is LSTMCellAdd from a set's addBias and lstmCell: g += add in place, then the cell.
func cellAdd(addBias func(x, b []float32, m, n int), cell func(g, c, h []float32, hidden int)) func(g, add, c, h []float32, hidden int) {
	return func(g, add, c, h []float32, hidden int) {
		addBias(g, add, 1, 4*hidden)
		cell(g, c, h, hidden)
	}
}

func lstmStepGeneric(g, c, h, r, b, col []float32, hidden int) {
	n := 4 * hidden
	matVecGeneric(g, r, h, b, n, hidden)
	if col != nil {
		addBiasGeneric(g, col, 1, n)
	}
	lstmCellGeneric(g, c, h, hidden)
}

// generic is the portable implementation, correct on every GOARCH.
var generic = impl{
	name:      "generic",
	matVec:    matVecGeneric,
	matVecAdd: matVecAddGeneric,
	gemmNT:    gemmNTGeneric,
	addBias:   addBiasGeneric,
	sigmoid:   sigmoidGeneric,
	tanh:      tanhGeneric,
	softmax:   softmaxGeneric,
	lstmCell:  lstmCellGeneric,
	lstmStep:  lstmStepGeneric,

	lstmCellAdd: cellAdd(addBiasGeneric, lstmCellGeneric),
	oneHot:      oneHotGeneric,

	gemmPacked: gemmPackedGeneric,
	gemmSparse: gemmSparseDense(gemmPackedGeneric),
}

func gemmPackedGeneric(c, a []float32, lda int, bp []float32, m, n, k int, acc bool) {
	bp = bp[:PackedLen(n, k)]
	for i := 0; i < m; i++ {
		ai, ci := a[i*lda:i*lda+k], c[i*n:i*n+n]
		for j := 0; j < n; j++ {
			panel := bp[j/PanelWidth*PanelWidth*k:]
			t := j % PanelWidth
			var s float32
			for p, v := range ai {
				s += v * panel[p*PanelWidth+t]
			}
			if acc {
				s += ci[j]
			}
			ci[j] = s
		}
	}
}
