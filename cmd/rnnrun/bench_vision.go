package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// maxDistinctBatches caps the different batches each worker cycles through
// when --images gives real images.
const maxDistinctBatches = 64

// benchImageTask runs the images section of an image model.
func benchImageTask(ctx context.Context, m *model.Model, cfg *benchConfig, res *benchResult, progress io.Writer) error {
	if cfg.sections != nil && !cfg.sections[secImages] {
		return usagef("%s is an image model: only the images section applies", m.Path())
	}
	res.Workers, res.ImagesData = cfg.workers, "pseudo-random pixels"
	if cfg.images != "" {
		res.ImagesData = cfg.images
	}
	var err error
	res.ImagesPerSecond, res.ImagesCPUCores, err = benchImages(ctx, m, cfg, progress)
	return err
}

// benchImages measures images per second at each batch size through
// zero-allocation bindings over fixed tensors: real images (cfg.images, cycling
// through up to maxDistinctBatches different batches, as Python's figures do)
// or pixel-like pseudo-random values. With several workers, each runs its own
// bindings concurrently. It also returns the average number of cores busy.
func benchImages(ctx context.Context, m *model.Model, cfg *benchConfig, progress io.Writer) (rates, busy map[string]float64, err error) {
	ib, err := newImageBench(m, cfg.images)
	if err != nil {
		return nil, nil, err
	}
	rates, busy = map[string]float64{}, map[string]float64{}
	for _, batch := range cfg.batches {
		fmt.Fprintf(progress, "bench: images, batch %d, %d workers\n", batch, cfg.workers)
		rate, c, err := benchBatch(ctx, cfg, batch, ib.distinct(batch), ib.bind)
		if err != nil {
			return nil, nil, err
		}
		rates[strconv.Itoa(batch)] = rate
		if c > 0 {
			busy[strconv.Itoa(batch)] = c
		}
	}
	return rates, busy, nil
}

// imageBench prepares the batches of an image model's benchmark.
type imageBench struct {
	m      *model.Model
	in     model.TensorInfo
	md     model.Metadata
	pixels []uint8 // the real images, concatenated; nil: pseudo-random pixels
}

func newImageBench(m *model.Model, images string) (*imageBench, error) {
	sig, md := m.Signature(), m.Metadata()
	inName := md.Input
	if inName == "" && len(sig.Inputs) == 1 {
		inName = sig.Inputs[0].Name
	}
	in, ok := sig.Input(inName)
	if !ok || len(sig.Inputs) != 1 {
		return nil, fmt.Errorf("%w: %s: the image benchmark needs a model with one input", model.ErrBadModel, m.Path())
	}
	ib := &imageBench{m: m, in: in, md: md}
	if images != "" {
		imgs, err := vision.ReadIdxImages(images)
		if err != nil {
			return nil, usageError{fmt.Errorf("--images: %w", err)}
		}
		for _, g := range imgs {
			ib.pixels = append(ib.pixels, g.Pix...)
		}
	}
	return ib, nil
}

// distinct is how many different batches of the given size each worker cycles through.
func (ib *imageBench) distinct(batch int) int {
	if ib.pixels == nil {
		return 1
	}
	per := int(shapeSize(ib.in.Shape, batch))
	return clamp(len(ib.pixels)/max(per, 1), 1, maxDistinctBatches)
}

// shapeFor is t's shape with the batch dimension set.
func (ib *imageBench) shapeFor(t model.TensorInfo, batch int) (model.Shape, error) {
	s := append(model.Shape{}, t.Shape...)
	for i := range s {
		switch {
		case i == 0:
			if s[0] >= 0 && s[0] != int64(batch) {
				return nil, fmt.Errorf("%w: %s: %s has a fixed batch of %d", model.ErrBadModel, ib.m.Path(), t, s[0])
			}
			s[0] = int64(batch)
		case s[i] < 0:
			return nil, fmt.Errorf("%w: %s: %s has a dynamic dimension besides the batch", model.ErrBadModel, ib.m.Path(), t)
		}
	}
	return s, nil
}

// bind prepares the k-th batch of the given size.
func (ib *imageBench) bind(batch, k int) (model.Binding, error) {
	s, err := ib.shapeFor(ib.in, batch)
	if err != nil {
		return nil, err
	}
	x := model.NewFloat32(s, nil)
	if err := ib.fill(x.Float32s(), s, k); err != nil {
		return nil, err
	}
	outs := map[string]*model.Tensor{}
	for _, t := range ib.m.Signature().Outputs {
		shape, err := ib.shapeFor(t, batch)
		if err != nil {
			return nil, err
		}
		outs[t.Name] = model.NewFloat32(shape, nil)
	}
	return ib.m.Bind(map[string]*model.Tensor{ib.in.Name: x}, outs)
}

// fill writes the k-th batch into d: real images scaled as the model wants,
// or pseudo-random pixel values.
func (ib *imageBench) fill(d []float32, s model.Shape, k int) error {
	if ib.pixels == nil {
		seed := uint32(12345 + k)
		for i := range d {
			seed = seed*1664525 + 1013904223
			d[i] = float32(seed>>24) / 255
		}
		return nil
	}
	if len(ib.pixels) < len(d) {
		return usagef("--images holds %d pixels, fewer than one batch of %s", len(ib.pixels), s)
	}
	n := len(ib.pixels) / len(d) // whole batches in the file
	off := (k % n) * len(d)
	for i := range d {
		d[i] = (float32(ib.pixels[off+i]) - ib.md.InputMean) / ib.md.InputStd
	}
	return nil
}

// shapeSize is the element count of shape with its batch dimension set to batch.
func shapeSize(shape model.Shape, batch int) int64 {
	n := int64(batch)
	for _, d := range shape[1:] {
		n *= max(d, 1)
	}
	return n
}

// benchBatch times one batch size: every worker gets distinct bindings and
// runs them in turn; after a warm-up, three rounds of a third of the duration
// each run all workers concurrently, and the best round counts (as Python's
// figures in bench/sidebyside.py), which damps a noisy machine.
func benchBatch(ctx context.Context, cfg *benchConfig, batch, distinct int, bind func(batch, k int) (model.Binding, error)) (rate, busy float64, err error) {
	sets, err := bindingSets(cfg.workers, batch, distinct, bind)
	defer closeSets(sets)
	if err != nil {
		return 0, 0, err
	}
	for _, set := range sets { // warm-up
		if err := runBindings(ctx, set, 1); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	if err := runBindings(ctx, sets[0], 2); err != nil { // estimate
		return 0, 0, err
	}
	per := time.Since(start).Seconds() / 2
	k := clamp(int(cfg.duration.Seconds()/3/per), 2, 10_000_000)
	cpu0, start := cpuSeconds(), time.Now()
	for range 3 {
		t := time.Now()
		if err := runWorkers(ctx, sets, k); err != nil {
			return 0, 0, err
		}
		rate = max(rate, float64(k*batch*len(sets))/time.Since(t).Seconds())
	}
	return rate, cores(cpu0, cpuSeconds(), time.Since(start)), nil
}

// bindingSets prepares distinct bindings for each of the workers.
func bindingSets(workers, batch, distinct int, bind func(batch, k int) (model.Binding, error)) ([][]model.Binding, error) {
	sets := make([][]model.Binding, workers)
	for w := range sets {
		for k := range distinct {
			bd, err := bind(batch, k)
			if err != nil {
				return sets, err
			}
			sets[w] = append(sets[w], bd)
		}
	}
	return sets, nil
}

func closeSets(sets [][]model.Binding) {
	for _, set := range sets {
		for _, bd := range set {
			bd.Close()
		}
	}
}

// runBindings runs k calls, cycling through set.
func runBindings(ctx context.Context, set []model.Binding, k int) error {
	for i := range k {
		if err := set[i%len(set)].Run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runWorkers runs k calls on every set at once, one goroutine per set.
func runWorkers(ctx context.Context, sets [][]model.Binding, k int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(sets))
	for w, set := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = runBindings(ctx, set, k)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
