// Package versions holds the project's version pins, read from versions.env:
// the one file where they are written, which scripts/env.sh sources too.
package versions

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed versions.env
var file string

// Pins are the KEY=VALUE pairs of versions.env.
var Pins = mustParse(file)

// The pins Go code uses.
var (
	// ORT is the ONNX Runtime release the project installs and tests with.
	ORT = Pins["ORT_VERSION"]
	// GoMNISTModule and GoMNISTVersion name the Go module whose data/ folder
	// holds MNIST's idx files.
	GoMNISTModule  = Pins["GOMNIST_MODULE"]
	GoMNISTVersion = Pins["GOMNIST_VERSION"]
)

// parse reads KEY=VALUE lines; blank lines and # comments are skipped.
func parse(text string) (map[string]string, error) {
	pins := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || v == "" || strings.ContainsAny(k+v, " \t\"'$") {
			return nil, fmt.Errorf("versions.env line %d: %q is not KEY=VALUE", i+1, line)
		}
		pins[k] = v
	}
	return pins, nil
}

func mustParse(text string) map[string]string {
	pins, err := parse(text)
	if err != nil {
		panic(err) // the embedded file is the project's own; its test checks it
	}
	return pins
}
