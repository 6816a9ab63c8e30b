package classify

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// Name is the task's name: its route is .../models/{name}/classify.
const Name = "classify"

// TopK is the number of classes each classification lists.
const TopK = 5

func init() { registry.RegisterTask(Task{}) }

// Task is the image-classification task.
type Task struct{}

// Name implements registry.Task.
func (Task) Name() string { return Name }

// Serves image-classification models.
func (Task) Serves(kind string) bool { return kind == model.TaskImageClassification }

// Settings: the classifier reads no settings.
func (Task) Settings() []string { return nil }

// CheckConfig has nothing to check: the classifier takes everything from the model.
func (Task) CheckConfig(registry.ModelConfig) error { return nil }

// Load prepares the Classifier and classifies one blank image.
func (Task) Load(ctx context.Context, m *model.Model, _ registry.ModelConfig) (registry.Instance, error) {
	c, err := vision.NewClassifier(m, vision.Options{Workers: 1, TopK: TopK})
	if err != nil {
		return nil, err
	}
	w, h := c.Size()
	p, err := c.ClassifyOne(ctx, vision.NewGray(w, h))
	if err != nil {
		return nil, fmt.Errorf("%w: smoke classification: %v", registry.ErrCheck, err)
	}
	if len(p.Probs) != len(c.Labels()) {
		return nil, fmt.Errorf("%w: smoke classification gave %d probabilities for %d labels", registry.ErrCheck, len(p.Probs), len(c.Labels()))
	}
	return &Instance{cls: c}, nil
}

// Instance is the task prepared for one model version.
type Instance struct{ cls *vision.Classifier }

// Classifier is the model's classifier.
func (in *Instance) Classifier() *vision.Classifier { return in.cls }

// Status reports the labels.
func (in *Instance) Status() map[string]any { return map[string]any{"labels": in.cls.Labels()} }

// Close has nothing to release: the classifier holds no resources of its own.
func (in *Instance) Close() error { return nil }

type handler struct {
	images *prometheus.CounterVec
}

// NewHTTP implements task.HTTP.
func (Task) NewHTTP() task.Handlers {
	h := &handler{images: task.ModelCounter("rnnrun_images_classified_total", "Images classified, by model.")}
	return task.Post(Name, h.classify, h.images, MapError)
}

// MapError maps image errors to HTTP statuses and codes.
func MapError(err error) (int, string, bool) {
	switch {
	case errors.Is(err, vision.ErrNotImageModel):
		return http.StatusUnprocessableEntity, "wrong_task", true
	case errors.Is(err, vision.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "image_too_large", true
	case errors.Is(err, vision.ErrNotImage), errors.Is(err, vision.ErrBadImage), errors.Is(err, vision.ErrEmptyImage),
		errors.Is(err, vision.ErrNoInk), errors.Is(err, vision.ErrBadPixels), errors.Is(err, vision.ErrBadSize):
		return http.StatusUnprocessableEntity, "bad_image", true
	}
	return 0, "", false
}

var (
	_ task.HTTP      = Task{}
	_ task.Commander = Task{}
)
