package generate

import (
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Default values of the settings.
const (
	DefaultTemperature = 1.0
	DefaultTopP        = 1.0
	DefaultLength      = 200 // max_length of a request that leaves it out
)

// Settings are the keys of a model's config entry that generation reads.
type Settings struct {
	// Mode is the generation mode: auto, stateful or windowed.
	Mode string `mapstructure:"mode"`
	// Window overrides the window length of windowed generation.
	Window int `mapstructure:"window"`
	// Defaults are the values a request takes when it leaves them out.
	Defaults Defaults `mapstructure:"defaults"`
}

// Defaults are a model's default generation values.
type Defaults struct {
	MaxLength int `mapstructure:"max-length" json:"max_length"`
	// Temperature is a pointer so that an explicit 0 (greedy) differs from
	// unset (DefaultTemperature).
	Temperature *float64 `mapstructure:"temperature" json:"temperature"`
	TopK        int      `mapstructure:"top-k" json:"top_k"`
	// TopP is a pointer so that an explicit 0 (refused) differs from unset (DefaultTopP).
	TopP *float64 `mapstructure:"top-p" json:"top_p"`
	Stop []string `mapstructure:"stop" json:"stop,omitempty"`
}

// Settings implements registry.Task.
func (*Task) Settings() []string {
	return []string{"mode", "window", "defaults.max-length", "defaults.temperature", "defaults.top-k", "defaults.top-p", "defaults.stop"}
}

// SettingsOf decodes a model's settings, with the defaults filled in.
func SettingsOf(mc registry.ModelConfig) (Settings, error) {
	var s Settings
	if err := registry.DecodeSettings(mc, &s); err != nil {
		return s, err
	}
	d := &s.Defaults
	if d.MaxLength == 0 {
		d.MaxLength = DefaultLength
	}
	if d.Temperature == nil {
		t := DefaultTemperature
		d.Temperature = &t
	}
	if d.TopP == nil {
		p := DefaultTopP
		d.TopP = &p
	}
	return s, nil
}

// Map is s as a model's Settings, for a registry.ModelConfig built in Go
// (zero fields are left out, so they take the defaults).
func (s Settings) Map() map[string]any {
	m := map[string]any{}
	if s.Mode != "" {
		m["mode"] = s.Mode
	}
	if s.Window != 0 {
		m["window"] = s.Window
	}
	d := map[string]any{}
	for k, v := range map[string]any{"max-length": s.Defaults.MaxLength, "top-k": s.Defaults.TopK} {
		if v != 0 {
			d[k] = v
		}
	}
	if s.Defaults.Temperature != nil {
		d["temperature"] = *s.Defaults.Temperature
	}
	if s.Defaults.TopP != nil {
		d["top-p"] = *s.Defaults.TopP
	}
	if s.Defaults.Stop != nil {
		d["stop"] = s.Defaults.Stop
	}
	if len(d) > 0 {
		m["defaults"] = d
	}
	return m
}

// request is the request the defaults make.
func (d Defaults) request() textgen.Request {
	req := textgen.Request{MaxLength: d.MaxLength, Stop: d.Stop}
	req.Sampling = textgen.Params{Temperature: DefaultTemperature, TopK: d.TopK, TopP: DefaultTopP}
	if d.Temperature != nil {
		req.Sampling.Temperature = *d.Temperature
	}
	if d.TopP != nil {
		req.Sampling.TopP = *d.TopP
	}
	return req
}
