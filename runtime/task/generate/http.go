package generate

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// Request is the body of POST .../models/{name}/generate. Fields left out
// take the model's configured defaults; seed left out is random (and
// reported in the response).
type Request struct {
	Prompt      string   `json:"prompt"`
	MaxLength   *int     `json:"max_length,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	Seed        *uint64  `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Stream      bool     `json:"stream,omitempty"`
}

// Response is the answer to a generate request without streaming.
type Response struct {
	Model   string           `json:"model"`
	Version registry.Version `json:"version"`
	Text    string           `json:"text"`
	Seed    uint64           `json:"seed"`
	Stats   textgen.Stats    `json:"stats"`
}

// ChunkEvent is the data of a streamed "chunk" event.
type ChunkEvent struct {
	Text string `json:"text"`
}

// DoneEvent is the data of the final streamed "done" event.
type DoneEvent struct {
	Model   string           `json:"model"`
	Version registry.Version `json:"version"`
	Seed    uint64           `json:"seed"`
	Stats   textgen.Stats    `json:"stats"`
}

type handler struct {
	chars *prometheus.CounterVec
}

func (h *handler) generate(c *task.Call) { task.Handle(c, readBody, h.run) }

// readBody reads the JSON body and checks what it gives, before the model's
// defaults fill the rest.
func readBody(c *task.Call) (Request, error) {
	var body Request
	if err := c.DecodeJSON(&body); err != nil {
		return body, err
	}
	return body, CheckBody(body, c.Limits)
}

func (h *handler) run(c *task.Call, lease *registry.Lease, in *Instance, body Request) error {
	req, err := body.Resolve(in.Defaults(), c.Limits)
	if err != nil {
		return err
	}
	ctx, cancel := c.Context()
	defer cancel()
	if body.Stream {
		h.stream(ctx, c, lease, in.Engine(), req)
		return nil
	}
	var text strings.Builder
	st, err := in.Engine().Generate(ctx, req, func(piece string) error {
		text.WriteString(piece)
		return nil
	})
	h.chars.WithLabelValues(c.Model).Add(float64(st.Generated))
	if err != nil {
		return err
	}
	c.Note("chars", st.Generated)
	c.JSON(http.StatusOK, Response{Model: c.Model, Version: lease.Version(), Text: text.String(), Seed: req.Sampling.Seed, Stats: st})
	return nil
}

// CheckBody checks what a body gives, before the model's defaults fill the
// rest: what the generate route does before it takes a concurrency slot.
func CheckBody(b Request, lim task.Limits) error {
	if b.MaxLength != nil && *b.MaxLength <= 0 {
		return &textgen.ParamError{Name: "max_length", Value: *b.MaxLength, Rule: "must be positive"}
	}
	return checkRequest(b.request(Defaults{}), lim)
}

// checkRequest applies textgen's one rule and the server's limits.
func checkRequest(req textgen.Request, lim task.Limits) error {
	if req.MaxLength > lim.MaxLength {
		return &textgen.ParamError{Name: "max_length", Value: req.MaxLength, Rule: fmt.Sprintf("is above this server's limit of %d", lim.MaxLength)}
	}
	if n := utf8.RuneCountInString(req.Prompt); n > lim.MaxPromptChars {
		return &textgen.ParamError{Name: "prompt", Value: fmt.Sprintf("of %d characters", n), Rule: fmt.Sprintf("is above this server's limit of %d", lim.MaxPromptChars)}
	}
	return req.Validate()
}

// Resolve fills what the body leaves out from the model's defaults and
// checks the result against textgen's rule and the server's limits.
func (b Request) Resolve(d Defaults, lim task.Limits) (textgen.Request, error) {
	req := b.request(d)
	return req, checkRequest(req, lim)
}

// request fills what the body leaves out from the model's defaults.
func (b Request) request(d Defaults) textgen.Request {
	req := d.request()
	req.Prompt = b.Prompt
	if b.MaxLength != nil {
		req.MaxLength = *b.MaxLength
	}
	if b.Temperature != nil {
		req.Sampling.Temperature = *b.Temperature
	}
	if b.TopK != nil {
		req.Sampling.TopK = *b.TopK
	}
	if b.TopP != nil {
		req.Sampling.TopP = *b.TopP
	}
	if b.Stop != nil {
		req.Stop = b.Stop
	}
	if b.Seed != nil {
		req.Sampling.Seed = *b.Seed
	} else {
		var buf [8]byte
		_, _ = crand.Read(buf[:])
		req.Sampling.Seed = binary.LittleEndian.Uint64(buf[:]) >> 11 // exact in a JSON number (53 bits)
	}
	return req
}

// stream answers with Server-Sent Events: one "chunk" event per generated
// piece, then "done" with the stats, or "error". Errors before the first
// piece (a prompt the model cannot encode, say) are plain JSON errors with
// their status, as without streaming. A client that disconnects cancels the
// request's context, which stops the generation.
func (h *handler) stream(ctx context.Context, c *task.Call, lease *registry.Lease, eng Engine, req textgen.Request) {
	sse := c.SSE()
	chunks := 0
	st, err := eng.Generate(ctx, req, func(piece string) error {
		chunks++
		return sse.Event("chunk", ChunkEvent{Text: piece})
	})
	h.chars.WithLabelValues(c.Model).Add(float64(st.Generated))
	c.Note("chars", st.Generated, "chunks", chunks)
	sse.End(err, DoneEvent{Model: c.Model, Version: lease.Version(), Seed: req.Sampling.Seed, Stats: st})
}
