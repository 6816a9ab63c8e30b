package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model/infer"
)

// addOverrideFlags adds the flags that set a model's metadata over what its
// file, its sidecar and inference say (models/export/README.md).
func addOverrideFlags(fs *pflag.FlagSet) {
	fs.String(infer.OptTask, "", "the model's task: image-classification or text-generation (default: the metadata, else inferred from the signature)")
	fs.String(infer.OptLabels, "", "class labels in output order: comma-separated, or a JSON file holding an array (default: \"0\"..\"K-1\")")
	fs.String(infer.OptVocab, "", "vocabulary JSON file (an array of strings, in index order), for models without one in their metadata")
	fs.String(infer.OptCase, "", "case policy of the vocabulary: preserve or lower (default: the metadata, else preserve)")
	fs.String(infer.OptInputScale, "", "pixel scale: x = pixel * scale, a number or a fraction (default without metadata: 1/255)")
	fs.Float64(infer.OptInputMean, 0, "input scaling x = (pixel - mean) / std: the mean")
	fs.Float64(infer.OptInputStd, 0, "input scaling x = (pixel - mean) / std: the std")
	fs.String(infer.OptInk, "", "light-on-dark (MNIST, the default without metadata) or dark-on-light")
}

var overrideOptions = []string{infer.OptTask, infer.OptLabels, infer.OptVocab, infer.OptCase, infer.OptInputScale, infer.OptInputMean, infer.OptInputStd, infer.OptInk}

// overrideLayers reads the override options into the two layers of the
// resolution, config (config file and environment) below flags.
func (a *app) overrideLayers(v *viper.Viper) ([]infer.Values, error) {
	var config, flags infer.Overrides
	var fromFlag = map[string]bool{}
	for _, opt := range overrideOptions {
		if !v.IsSet(opt) {
			continue
		}
		dst := &config
		if a.cmd != nil {
			if f := a.cmd.Flags().Lookup(opt); f != nil && f.Changed {
				dst, fromFlag[opt] = &flags, true
			}
		}
		if err := setOverride(dst, opt, v); err != nil {
			return nil, usageError{err}
		}
	}
	source := func(opt string) string {
		if fromFlag[opt] {
			return "flag --" + opt
		}
		env := "RNNRUN_" + strings.ToUpper(strings.ReplaceAll(opt, "-", "_"))
		if _, ok := os.LookupEnv(env); ok {
			return "environment " + env
		}
		return "config " + opt
	}
	var layers []infer.Values
	for _, o := range []infer.Overrides{config, flags} {
		vs, err := o.Values(source)
		if err != nil {
			return nil, usageError{err}
		}
		layers = append(layers, vs)
	}
	return layers, nil
}

// setOverride copies option opt from v into o.
func setOverride(o *infer.Overrides, opt string, v *viper.Viper) error {
	switch opt {
	case infer.OptTask:
		o.Task = v.GetString(opt)
	case infer.OptLabels:
		if list, ok := v.Get(opt).([]any); ok {
			for _, l := range list {
				o.Labels = append(o.Labels, fmt.Sprint(l))
			}
			return nil
		}
		labels, err := infer.ParseLabels(v.GetString(opt))
		if err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
		o.Labels = labels
	case infer.OptVocab:
		o.Vocab = v.GetString(opt)
	case infer.OptCase:
		o.Case = v.GetString(opt)
	case infer.OptInputScale:
		o.InputScale = v.GetString(opt)
	case infer.OptInputMean:
		f := v.GetFloat64(opt)
		o.InputMean = &f
	case infer.OptInputStd:
		f := v.GetFloat64(opt)
		o.InputStd = &f
	case infer.OptInk:
		o.Ink = v.GetString(opt)
	}
	return nil
}
