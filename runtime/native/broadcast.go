package native

import "fmt"

// bcast walks the numpy-style broadcast of two shapes row by row: the
// innermost dimension is a run with strides sa[rank-1] and sb[rank-1] (0 or 1).
type bcast struct {
	rank   int
	out    [maxRank]int
	sa, sb [maxRank]int
}

// init sets the output shape and the input strides (0 on broadcast dimensions).
func (p *bcast) init(a, b []int) error {
	r := max(len(a), len(b))
	if r > maxRank {
		return fmt.Errorf("rank %d is above the limit of %d", r, maxRank)
	}
	p.rank = r
	strideA, strideB := 1, 1
	for d := r - 1; d >= 0; d-- {
		da, db := dimAt(a, d, r), dimAt(b, d, r)
		o := da
		switch {
		case da == db:
		case da == 1:
			o = db
		case db == 1:
		default:
			// copies, so that a and b (often stack arrays) do not escape
			return fmt.Errorf("shapes %v and %v do not broadcast", append([]int(nil), a...), append([]int(nil), b...))
		}
		p.out[d] = o
		p.sa[d], p.sb[d] = 0, 0
		if da != 1 || o == 1 {
			p.sa[d] = strideA
		}
		if db != 1 || o == 1 {
			p.sb[d] = strideB
		}
		strideA *= da
		strideB *= db
	}
	return nil
}

// dimAt is dimension d of shape s right-aligned to rank r (1 where s is shorter).
func dimAt(s []int, d, r int) int {
	k := d - (r - len(s))
	if k < 0 {
		return 1
	}
	return s[k]
}

func (p *bcast) shape() []int { return p.out[:p.rank] }

func (p *bcast) size() int {
	n := 1
	for _, d := range p.out[:p.rank] {
		n *= d
	}
	return n
}

// inner is the length and input strides of each row.
func (p *bcast) inner() (n, sa, sb int) {
	if p.rank == 0 {
		return 1, 0, 0
	}
	return p.out[p.rank-1], p.sa[p.rank-1], p.sb[p.rank-1]
}

// each calls fn with the output, a and b offsets of every row.
func (p *bcast) each(fn func(o, ia, ib int)) {
	total := p.size()
	n, _, _ := p.inner()
	if total == 0 || n == 0 {
		return
	}
	var idx [maxRank]int
	ia, ib := 0, 0
	for o := 0; o < total; o += n {
		fn(o, ia, ib)
		for d := p.rank - 2; d >= 0; d-- {
			idx[d]++
			ia += p.sa[d]
			ib += p.sb[d]
			if idx[d] < p.out[d] {
				break
			}
			ia -= p.sa[d] * p.out[d]
			ib -= p.sb[d] * p.out[d]
			idx[d] = 0
		}
	}
}

// strides sets st to the row-major strides of shape.
func strides(st *[maxRank]int, shape []int) {
	s := 1
	for d := len(shape) - 1; d >= 0; d-- {
		st[d] = s
		s *= shape[d]
	}
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := int(axis)
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return a, nil
}
