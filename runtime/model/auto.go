package model

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Auto is the backend name that lets Open choose: for an ONNX file, the
// registered backend of highest priority whose probe accepts the file; a
// folder is a SavedModel and goes to "tf".
const Auto = "auto"

// Probe reports whether a backend can run the model file at path: nil if it
// can, else an error naming what stops it (for example the unsupported node).
type Probe func(path string) error

type probe struct {
	name     string
	priority int
	check    Probe
}

var probes []probe // guarded by backendsMu

// RegisterProbe makes the backend registered as name a candidate for "auto":
// among the candidates whose probe accepts a file, the highest priority wins.
// Backends that can never run a file in this build register no probe.
func RegisterProbe(name string, priority int, check Probe) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	probes = append(probes, probe{name, priority, check})
	sort.SliceStable(probes, func(i, j int) bool { return probes[i].priority > probes[j].priority })
}

// Refusal is one candidate that "auto" passed over, and why.
type Refusal struct {
	Backend string
	Err     error
}

// Choice is what "auto" decided for one path: the backend that runs it (""
// if none can) and the candidates of higher priority that refused it.
type Choice struct {
	Backend string
	Refused []Refusal
}

// Err is the reason no backend can run the model: the first refusal (the
// preferred backend's), naming the others; nil when a backend was chosen.
func (c Choice) Err() error {
	if c.Backend != "" {
		return nil
	}
	if len(c.Refused) == 0 {
		return fmt.Errorf("%w: no backend for ONNX files is compiled in (compiled in: %s)", ErrNoBackend, strings.Join(Backends(), ", "))
	}
	err := c.Refused[0].Err
	for _, r := range c.Refused[1:] {
		err = fmt.Errorf("%w (and %s: %v)", err, r.Backend, r.Err)
	}
	return err
}

// Choose resolves "auto" for path without loading the model.
func Choose(path string) (Choice, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Choice{}, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if st.IsDir() {
		return Choice{Backend: "tf"}, nil
	}
	backendsMu.RLock()
	list := append([]probe(nil), probes...)
	backendsMu.RUnlock()
	var c Choice
	for _, p := range list {
		err := p.check(path)
		if err == nil {
			c.Backend = p.name
			return c, nil
		}
		c.Refused = append(c.Refused, Refusal{Backend: p.name, Err: err})
	}
	return c, nil
}

// resolve maps the requested backend name to the one Open uses.
func resolve(path, name string) (string, error) {
	if name != "" && name != Auto {
		return name, nil
	}
	c, err := Choose(path)
	if err != nil {
		return "", err
	}
	if c.Backend == "" {
		return "", c.Err()
	}
	return c.Backend, nil
}
