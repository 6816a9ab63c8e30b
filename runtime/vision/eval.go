package vision

import (
	"context"
	"fmt"
	"time"
)

// EvalOptions tune Evaluate.
type EvalOptions struct {
	// Progress, if set, is called (never concurrently) as batches finish,
	// with the number of images done so far and the total.
	Progress func(done, total int)
}

// ClassAccuracy is the accuracy on the images of one true class.
type ClassAccuracy struct {
	Index    int     `json:"index"`
	Label    string  `json:"label"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	Accuracy float64 `json:"accuracy"`
	// PerClass has one entry per model class, by true label.
	PerClass []ClassAccuracy `json:"per_class"`
	// Confusion[t][p] counts the images of true class t predicted as p.
	Confusion [][]int `json:"confusion"`
	// Predicted holds each image's predicted class index.
	Predicted []int `json:"-"`
	// Seconds is the time spent classifying (not reading the data).
	Seconds         float64 `json:"seconds"`
	ImagesPerSecond float64 `json:"images_per_second"`
}

// Evaluate classifies images whose true class indexes are labels (an idx
// labels file's values, e.g. MNIST digit d is class d) and counts the correct ones.
func (c *Classifier) Evaluate(ctx context.Context, images []Gray, labels []uint8, opts EvalOptions) (*EvalResult, error) {
	if len(images) != len(labels) {
		return nil, fmt.Errorf("vision: %d images but %d labels", len(images), len(labels))
	}
	k := len(c.labels)
	for i, l := range labels {
		if int(l) >= k {
			return nil, fmt.Errorf("vision: label %d of image %d is out of range: the model has %d classes", l, i, k)
		}
	}
	var progress func(int)
	if opts.Progress != nil {
		done := 0
		opts.Progress(0, len(images))
		progress = func(n int) {
			done += n
			opts.Progress(done, len(images))
		}
	}
	start := time.Now()
	preds, err := c.classify(ctx, images, progress)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start).Seconds()
	r := &EvalResult{Total: len(images), Seconds: elapsed, Predicted: make([]int, len(preds))}
	r.Confusion = make([][]int, k)
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	r.PerClass = make([]ClassAccuracy, k)
	for i := range r.PerClass {
		r.PerClass[i] = ClassAccuracy{Index: i, Label: c.labels[i]}
	}
	for i, p := range preds {
		t := int(labels[i])
		r.Predicted[i] = p.Index
		r.Confusion[t][p.Index]++
		r.PerClass[t].Total++
		if p.Index == t {
			r.Correct++
			r.PerClass[t].Correct++
		}
	}
	for i := range r.PerClass {
		if r.PerClass[i].Total > 0 {
			r.PerClass[i].Accuracy = float64(r.PerClass[i].Correct) / float64(r.PerClass[i].Total)
		}
	}
	if r.Total > 0 {
		r.Accuracy = float64(r.Correct) / float64(r.Total)
	}
	if elapsed > 0 {
		r.ImagesPerSecond = float64(r.Total) / elapsed
	}
	return r, nil
}
