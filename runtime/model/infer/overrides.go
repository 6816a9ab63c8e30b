package infer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Overrides are the values a user sets over a model's metadata, as the CLI's
// flags and a model's config entry name them. Zero fields are not set.
type Overrides struct {
	// Task is "image-classification" (also "image", "classify") or
	// "text-generation" (also "text", "generate"). A config entry's task is
	// its own key (registry.ModelConfig.Task).
	Task string `mapstructure:"-" json:"task,omitempty"`
	// Labels are the class labels in output order.
	Labels []string `mapstructure:"labels" json:"labels,omitempty"`
	// Vocab is a JSON file holding the vocabulary (an array of strings).
	Vocab string `mapstructure:"vocab" json:"vocab,omitempty"`
	// Case is the case policy: preserve or lower.
	Case string `mapstructure:"case" json:"case,omitempty"`
	// InputScale multiplies pixels: "1/255" or a number (mean 0, std 1/scale).
	InputScale string `mapstructure:"input-scale" json:"input_scale,omitempty"`
	// InputMean and InputStd: x = (pixel - mean) / std.
	InputMean *float64 `mapstructure:"input-mean" json:"input_mean,omitempty"`
	InputStd  *float64 `mapstructure:"input-std" json:"input_std,omitempty"`
	// Ink is light-on-dark or dark-on-light.
	Ink string `mapstructure:"ink" json:"ink,omitempty"`
}

// Option names, as flags and config keys spell them.
const (
	OptTask       = "task"
	OptLabels     = "labels"
	OptVocab      = "vocab"
	OptCase       = "case"
	OptInputScale = "input-scale"
	OptInputMean  = "input-mean"
	OptInputStd   = "input-std"
	OptInk        = "ink"
)

// Values turns the overrides into metadata values; source names where the
// option of that name was set ("flag --labels"). Bad values are errors naming it.
func (o Overrides) Values(source func(option string) string) (Values, error) {
	vs := Values{}
	put := func(key, opt, text string) { vs[key] = Value{text, source(opt)} }
	if o.Task != "" {
		t, err := TaskName(o.Task)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source(OptTask), err)
		}
		put("task", OptTask, t)
	}
	if len(o.Labels) > 0 {
		text, _ := compactJSON(o.Labels)
		put("labels", OptLabels, text)
	}
	if o.Vocab != "" {
		text, err := readVocab(o.Vocab)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source(OptVocab), err)
		}
		put("vocab", OptVocab, text)
	}
	if o.Case != "" {
		put("case_policy", OptCase, o.Case)
	}
	if o.Ink != "" {
		put("ink", OptInk, o.Ink)
	}
	if err := o.scaling(put, source); err != nil {
		return nil, err
	}
	return vs, vs.check()
}

// scaling sets input_mean and input_std from the scale or the mean and std.
func (o Overrides) scaling(put func(key, opt, text string), source func(string) string) error {
	if o.InputScale != "" {
		if o.InputMean != nil || o.InputStd != nil {
			return fmt.Errorf("%s and %s/%s: give the scale or the mean and std, not both", source(OptInputScale), OptInputMean, OptInputStd)
		}
		s, err := ParseScale(o.InputScale)
		if err != nil {
			return fmt.Errorf("%s: %w", source(OptInputScale), err)
		}
		put("input_mean", OptInputScale, "0")
		put("input_std", OptInputScale, strconv.FormatFloat(float64(float32(1/s)), 'g', -1, 32))
		return nil
	}
	if o.InputMean != nil {
		put("input_mean", OptInputMean, strconv.FormatFloat(*o.InputMean, 'g', -1, 32))
	}
	if o.InputStd != nil {
		if *o.InputStd == 0 {
			return fmt.Errorf("%s: 0: the std must not be 0", source(OptInputStd))
		}
		put("input_std", OptInputStd, strconv.FormatFloat(*o.InputStd, 'g', -1, 32))
	}
	return nil
}

// ParseScale reads a pixel scale: a number ("0.5") or a fraction ("1/255").
func ParseScale(s string) (float64, error) {
	num, den, frac := strings.Cut(s, "/")
	a, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	b := 1.0
	if err == nil && frac {
		b, err = strconv.ParseFloat(strings.TrimSpace(den), 64)
	}
	if err != nil || a <= 0 || b <= 0 {
		return 0, fmt.Errorf("input scale %q: want a number > 0 or a fraction such as 1/255", s)
	}
	return a / b, nil
}

// TaskName normalises a task name.
func TaskName(s string) (string, error) {
	switch strings.ToLower(s) {
	case model.TaskImageClassification, "image", "classify", "classification":
		return model.TaskImageClassification, nil
	case model.TaskTextGeneration, "text", "generate", "generation":
		return model.TaskTextGeneration, nil
	}
	return "", fmt.Errorf("task %q: want %s or %s", s, model.TaskImageClassification, model.TaskTextGeneration)
}

// readVocab reads a vocabulary file: a JSON array of strings.
func readVocab(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("vocab file: %w", err)
	}
	var entries []string
	if err := json.Unmarshal(data, &entries); err != nil {
		return "", fmt.Errorf("vocab file %s: want a JSON array of strings: %v", path, err)
	}
	if len(entries) == 0 {
		return "", fmt.Errorf("vocab file %s: %w", path, errors.New("the vocabulary is empty"))
	}
	return compactJSON(entries)
}

// ParseLabels reads --labels: a JSON file holding an array of strings, else
// a comma-separated list.
func ParseLabels(s string) ([]string, error) {
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		data, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		var labels []string
		if err := json.Unmarshal(data, &labels); err != nil {
			return nil, fmt.Errorf("labels file %s: want a JSON array of strings: %v", s, err)
		}
		return labels, nil
	}
	return strings.Split(s, ","), nil
}
