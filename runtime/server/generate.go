package server

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// GenerateRequest is the body of POST /v1/models/{name}/generate. Fields left
// out take the model's configured defaults; seed left out is random (and
// reported in the response).
type GenerateRequest struct {
	Prompt      string   `json:"prompt"`
	MaxLength   *int     `json:"max_length,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	Seed        *uint64  `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Stream      bool     `json:"stream,omitempty"`
}

// GenerateResponse is the answer to a generate request without streaming.
type GenerateResponse struct {
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

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.reg.Has(name) {
		fail(w, r, fmt.Errorf("%w: %q", registry.ErrNotFound, name))
		return
	}
	if mt, _ := mediaType(r); mt != "application/json" && mt != "" {
		fail(w, r, newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: a generate request is application/json", mt)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	var body GenerateRequest
	if err := decodeJSON(r, &body); err != nil {
		fail(w, r, err)
		return
	}
	if body.MaxLength != nil && *body.MaxLength > s.opts.MaxLength {
		fail(w, r, fmt.Errorf("%w: max_length %d is above this server's limit of %d", textgen.ErrInvalidParams, *body.MaxLength, s.opts.MaxLength))
		return
	}
	if n := utf8.RuneCountInString(body.Prompt); n > s.opts.MaxPromptChars {
		fail(w, r, fmt.Errorf("%w: the prompt has %d characters, above this server's limit of %d", textgen.ErrInvalidParams, n, s.opts.MaxPromptChars))
		return
	}
	if body.MaxLength != nil && *body.MaxLength <= 0 {
		fail(w, r, fmt.Errorf("%w: max_length %d must be positive", textgen.ErrInvalidParams, *body.MaxLength))
		return
	}
	// The values the body gives are checked before a concurrency slot is taken
	// (zero defaults are valid), so a bad request is a 400 even when the model is busy.
	if err := buildRequest(body, registry.Defaults{}).Sampling.Validate(); err != nil {
		fail(w, r, err)
		return
	}
	if len(body.Stop) > maxStops {
		fail(w, r, fmt.Errorf("%w: %d stop strings; at most %d", textgen.ErrInvalidParams, len(body.Stop), maxStops))
		return
	}
	lease, err := s.reg.Acquire(name)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer lease.Release()
	note(r, "sha256", lease.Version().SHA256[:12])
	if lease.Task() != model.TaskTextGeneration {
		fail(w, r, fmt.Errorf("%w: model %q does %s, not text generation; use /v1/models/%s/classify", errWrongTask, name, lease.Task(), name))
		return
	}
	req := buildRequest(body, lease.Config().Defaults)
	if err := req.Sampling.Validate(); err != nil {
		fail(w, r, err)
		return
	}
	ctx := r.Context()
	if s.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.RequestTimeout)
		defer cancel()
	}
	gen := s.opts.Generator(lease)
	if body.Stream {
		s.stream(ctx, w, r, lease, gen, req)
		return
	}
	var text strings.Builder
	st, err := gen.Generate(ctx, req, func(piece string) error {
		text.WriteString(piece)
		return nil
	})
	s.metrics.chars.WithLabelValues(name).Add(float64(st.Generated))
	if err != nil {
		fail(w, r, err)
		return
	}
	note(r, "chars", st.Generated)
	writeJSON(w, http.StatusOK, GenerateResponse{Model: name, Version: lease.Version(), Text: text.String(), Seed: req.Sampling.Seed, Stats: st})
}

// maxStops is the most stop strings one request may give.
const maxStops = 16

// buildRequest fills what the body leaves out from the model's defaults.
func buildRequest(b GenerateRequest, d registry.Defaults) textgen.Request {
	req := textgen.Request{Prompt: b.Prompt, MaxLength: d.MaxLength, Stop: d.Stop}
	req.Sampling.Temperature = registry.DefaultTemperature
	if d.Temperature != nil {
		req.Sampling.Temperature = *d.Temperature
	}
	req.Sampling.TopK, req.Sampling.TopP = d.TopK, d.TopP
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
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, lease *registry.Lease, gen Generator, req textgen.Request) {
	rc := http.NewResponseController(w)
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
	}
	event := func(name string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	chunks, writeFailed := 0, false
	st, err := gen.Generate(ctx, req, func(piece string) error {
		start()
		chunks++
		if err := event("chunk", ChunkEvent{Text: piece}); err != nil {
			writeFailed = true
			return err
		}
		return nil
	})
	name := lease.Name()
	s.metrics.chars.WithLabelValues(name).Add(float64(st.Generated))
	note(r, "chars", st.Generated, "chunks", chunks)
	if err != nil && !started {
		fail(w, r, err)
		return
	}
	start()
	if err != nil {
		if writeFailed || r.Context().Err() != nil || errors.Is(err, context.Canceled) {
			note(r, "error", "client disconnected")
			setStatus(r, statusClientClosed)
			return
		}
		ae := classifyError(err)
		note(r, "error", ae.msg, "code", ae.code)
		_ = event("error", ErrorBody{Error{Code: ae.code, Message: ae.msg}})
		return
	}
	_ = event("done", DoneEvent{Model: name, Version: lease.Version(), Seed: req.Sampling.Seed, Stats: st})
}
