package model

import (
	"strings"
	"testing"
)

// FuzzParseMetadata: any key=value metadata parses or fails with an error
// naming a key, never panics, and keeps every raw key.
func FuzzParseMetadata(f *testing.F) {
	f.Add("task=text-generation\nvocab=[\"a\",\"b\"]\ncase=lower")
	f.Add("task=image-classification\nlabels=0,1,2\ninput_mean=0.5\ninput_std=0")
	f.Add("input_std=NaN\nwindow=-3")
	f.Fuzz(func(t *testing.T, text string) {
		raw := map[string]string{}
		for _, line := range strings.Split(text, "\n") {
			k, v, _ := strings.Cut(line, "=")
			raw[k] = v
		}
		m, err := ParseMetadata(raw)
		if err != nil {
			if !strings.Contains(err.Error(), " ") {
				t.Fatalf("terse error %q", err)
			}
			return
		}
		for k := range raw {
			if _, ok := m.Raw[k]; !ok {
				t.Fatalf("raw key %q lost", k)
			}
		}
	})
}
