package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rnnrun/rnnrun/runtime/model"
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
	Path     string            `json:"path"`
	Backend  string            `json:"backend"`
	Inputs   []tensorJSON      `json:"inputs"`
	Outputs  []tensorJSON      `json:"outputs"`
	Metadata map[string]string `json:"metadata"`
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
	m, err := openModel(cmd.Context(), v)
	if err != nil {
		return err
	}
	defer m.Close()
	sig, md := m.Signature(), m.Metadata()
	if v.GetBool("json") {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inspection{Path: m.Path(), Backend: m.BackendName(), Inputs: tensorsJSON(sig.Inputs), Outputs: tensorsJSON(sig.Outputs), Metadata: md.Raw})
	}
	w := a.stdout
	fmt.Fprintf(w, "model    %s\nbackend  %s\n", m.Path(), m.BackendName())
	section := func(title string, list []model.TensorInfo) {
		fmt.Fprintln(w, title)
		for _, t := range list {
			fmt.Fprintf(w, "  %-8s %-8s %s\n", t.Name, t.Type, t.Shape)
		}
	}
	section("inputs", sig.Inputs)
	section("outputs", sig.Outputs)
	fmt.Fprintln(w, "metadata")
	for _, k := range md.Keys() {
		fmt.Fprintf(w, "  %-22s %s\n", k, shorten(md.Raw[k], 100))
	}
	return nil
}

// shorten keeps a metadata value on one line of at most n characters.
func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
