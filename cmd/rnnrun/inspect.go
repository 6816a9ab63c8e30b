package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/model/infer"
	"github.com/rnnrun/rnnrun/runtime/native"
)

func init() {
	subcommands = append(subcommands, func(a *app) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "inspect",
			Short: "Print a model's signature and metadata",
			Args:  cobra.NoArgs,
			RunE:  a.inspect,
		}
		addModelFlags(cmd.Flags())
		cmd.Flags().Bool("json", false, "print JSON")
		return cmd
	})
}

// inspection is the JSON form of `rnnrun inspect --json`.
type inspection struct {
	Path    string        `json:"path"`
	Backend string        `json:"backend"`
	Auto    bool          `json:"auto"`              // the backend was chosen by --backend auto
	Refused []refusalJSON `json:"refused,omitempty"` // the backends auto passed over, and why
	Inputs  []tensorJSON  `json:"inputs"`
	Outputs []tensorJSON  `json:"outputs"`
	// Metadata is what the model runs with: the file's own keys, overridden
	// and completed (Sources says where each came from); FileMetadata is the
	// file's own map.
	Metadata     map[string]string `json:"metadata"`
	Sources      map[string]string `json:"sources"`
	FileMetadata map[string]string `json:"file_metadata"`
}

// refusalJSON is one backend "auto" passed over: for native, the node that stops it.
type refusalJSON struct {
	Backend string `json:"backend"`
	Error   string `json:"error"`
	Node    string `json:"node,omitempty"`
	Op      string `json:"op,omitempty"`
	Attr    string `json:"attribute,omitempty"`
}

// autoChoice reports whether the flags leave the backend to "auto" and, if
// so, the backends it refused for path.
func autoChoice(v *viper.Viper, path string) (bool, []refusalJSON) {
	if b := model.BackendName(v.GetString("backend")); b != "" && b != model.Auto {
		return false, nil
	}
	c, err := model.Choose(path)
	if err != nil {
		return true, nil
	}
	var out []refusalJSON
	for _, r := range c.Refused {
		j := refusalJSON{Backend: r.Backend, Error: r.Err.Error()}
		var u *native.UnsupportedError
		if errors.As(r.Err, &u) {
			j.Node, j.Op, j.Attr = u.Node, u.Op, u.Attr
		}
		out = append(out, j)
	}
	return true, out
}

type tensorJSON struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Shape []int64 `json:"shape"`
}

func tensorsJSON(list []model.TensorInfo) []tensorJSON {
	out := make([]tensorJSON, len(list))
	for i, t := range list {
		out[i] = tensorJSON{Name: t.Name, Type: t.Type.String(), Shape: t.Shape}
	}
	return out
}

func (a *app) inspect(cmd *cobra.Command, _ []string) error {
	v, err := a.config(cmd)
	if err != nil {
		return err
	}
	m, err := a.openModel(cmd.Context(), v)
	if err != nil {
		return err
	}
	defer m.Close()
	sig, md := m.Signature(), m.Metadata()
	auto, refused := autoChoice(v, m.Path())
	if v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inspection{Path: m.Path(), Backend: m.BackendName(), Auto: auto, Refused: refused,
			Inputs: tensorsJSON(sig.Inputs), Outputs: tensorsJSON(sig.Outputs), Metadata: md.Raw,
			Sources: md.Sources, FileMetadata: md.File})
	}
	w := a.stdout
	how := ""
	if auto {
		how = " (chosen by --backend auto)"
	}
	fmt.Fprintf(w, "model    %s\nbackend  %s%s\n", m.Path(), m.BackendName(), how)
	for _, r := range refused {
		fmt.Fprintf(w, "  not %s: %s\n", r.Backend, r.Error)
	}
	section := func(title string, list []model.TensorInfo) {
		fmt.Fprintln(w, title)
		for _, t := range list {
			fmt.Fprintf(w, "  %-8s %-8s %s\n", t.Name, t.Type, t.Shape)
		}
	}
	section("inputs", sig.Inputs)
	section("outputs", sig.Outputs)
	printMetadata(w, md)
	return nil
}

// printMetadata lists the resolved keys; a key that does not come from the
// file's own metadata says where it came from.
func printMetadata(w io.Writer, md model.Metadata) {
	fmt.Fprintln(w, "metadata (<- where a value does not come from the file's own metadata)")
	if md.Task == "" && md.Sources["task"] != "" {
		fmt.Fprintf(w, "  %-22s %s\n", "task", "(none) <- "+md.Sources["task"])
	}
	if md.Task == model.TaskTextGeneration && len(md.Vocab) == 0 {
		fmt.Fprintf(w, "  %-22s %s\n", "vocab", "(none) <- pass --vocab FILE (a JSON array of strings)")
	}
	for _, k := range md.Keys() {
		line := shorten(md.Raw[k], 100)
		if src := md.Sources[k]; src != "" && src != infer.SourceMetadata {
			line += " <- " + src
		}
		fmt.Fprintf(w, "  %-22s %s\n", k, line)
	}
}

// shorten keeps a metadata value on one line of at most n characters.
func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
