package textgen

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// probe runs a token-id model once, on the vocabulary's highest id, so that a
// model whose embedding table has fewer rows than the vocabulary has entries
// fails at load with ErrTokenRange naming both numbers, not in the middle of
// a generation. When the metadata does not say whether the output is logits,
// the probe's distribution decides: probabilities lie in [0, 1] and sum to 1.
func (g *Generator) probe(Options) error {
	if g.enc.Name() != EncodingTokenIDs {
		return nil
	}
	ctx := context.Background()
	last := g.vocab.Size() - 1
	dist, err := g.distributionAfter(ctx, last)
	if err != nil {
		if _, err0 := g.distributionAfter(ctx, 0); err0 != nil {
			return fmt.Errorf("%s: a first run on token id 0: %w", g.m.Path(), err0)
		}
		return fmt.Errorf("%w: %s: the vocabulary has %d entries (ids 0 to %d), but the model fails on id %d (does its embedding have fewer rows?): %v",
			ErrTokenRange, g.m.Path(), g.vocab.Size(), last, last, err)
	}
	if g.m.Metadata().OutputKind == "" {
		g.logits = !isDistribution(dist)
	}
	return nil
}

// distributionAfter is the model's distribution after the one-token prompt id.
func (g *Generator) distributionAfter(ctx context.Context, id int) ([]float32, error) {
	s, err := g.newStream(ctx, []int{id})
	if err != nil {
		return nil, err
	}
	defer s.close()
	return slices.Clone(s.probs.Float32s()), nil
}

// isDistribution reports whether p could be probabilities: each in [0, 1],
// summing to 1 within float32 rounding.
func isDistribution(p []float32) bool {
	var sum float64
	for _, x := range p {
		if !(x >= 0 && x <= 1) {
			return false
		}
		sum += float64(x)
	}
	return math.Abs(sum-1) < 1e-3
}

// lastRow is row b's distribution in the output of lastSteps.
func lastRow(dist []float32, b, stride, V int) []float32 {
	return dist[b*stride+stride-V : (b+1)*stride]
}
