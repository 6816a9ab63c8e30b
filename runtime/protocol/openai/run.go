package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/task/generate"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// run is one completions request on a leased instance.
type run struct {
	h   *handler
	c   *task.Call
	eng generate.Engine
	out Completion
}

// finish is OpenAI's finish_reason for a stop reason.
func finish(st textgen.Stats) *string {
	r := "length"
	if st.StopReason == textgen.StopString {
		r = "stop"
	}
	return &r
}

// generate runs one choice, giving each piece to emit.
func (r *run) generate(ctx context.Context, req textgen.Request, emit func(string) error) (textgen.Stats, error) {
	st, err := r.eng.Generate(ctx, req, emit)
	r.h.tokens.WithLabelValues(r.c.Model).Add(float64(st.Generated))
	return st, err
}

func (r *run) complete(reqs []textgen.Request) {
	ctx, cancel := r.c.Context()
	defer cancel()
	usage := &Usage{}
	for i, req := range reqs {
		var text strings.Builder
		st, err := r.generate(ctx, req, func(p string) error { text.WriteString(p); return nil })
		if err != nil {
			fail(r.c, err)
			return
		}
		usage.add(st)
		r.out.Choices = append(r.out.Choices, Choice{Text: text.String(), Index: i, FinishReason: finish(st)})
	}
	r.out.Usage = usage
	r.c.Note("chars", usage.CompletionTokens, "choices", len(reqs))
	r.c.JSON(http.StatusOK, r.out)
}

// stream sends one unnamed event per piece, then an empty chunk with the
// finish_reason for each choice, the usage if asked, and "[DONE]".
func (r *run) stream(reqs []textgen.Request, withUsage bool) {
	ctx, cancel := r.c.Context()
	defer cancel()
	sse := r.c.SSE()
	usage := &Usage{}
	chunk := func(index int, text string, reason *string) error {
		ev := r.out
		ev.Choices = []Choice{{Text: text, Index: index, FinishReason: reason}}
		return sse.Data(ev)
	}
	var err error
	for i, req := range reqs {
		var st textgen.Stats
		st, err = r.generate(ctx, req, func(p string) error { return chunk(i, p, nil) })
		if err == nil {
			err = chunk(i, "", finish(st))
		}
		if err != nil {
			break
		}
		usage.add(st)
	}
	if err == nil && withUsage {
		ev := r.out
		ev.Choices, ev.Usage = []Choice{}, usage
		err = sse.Data(ev)
	}
	r.c.Note("chars", usage.CompletionTokens, "choices", len(reqs))
	switch {
	case err == nil:
		_ = sse.Data("[DONE]")
	case !sse.Started():
		fail(r.c, err)
	case sse.WriteFailed || r.c.R.Context().Err() != nil || errors.Is(err, context.Canceled):
		r.c.Note("error", "client disconnected")
		task.SetStatus(r.c.R, task.StatusClientClosed)
	default:
		status, body := errorBody(r.c, err)
		r.c.Note("error", body.Error.Message, "status", status)
		_ = sse.Data(body)
	}
}

// Error is OpenAI's error object.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// ErrorBody is the body of every error: {"error": {...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// errorBody maps err as the native routes do (status and code), in OpenAI's shape.
func errorBody(c *task.Call, err error) (int, ErrorBody) {
	e := c.Error(err)
	body := Error{Message: e.Body.Message, Type: "invalid_request_error", Code: e.Body.Code}
	switch {
	case e.Status() >= 500:
		body.Type = "server_error"
	case e.Status() == http.StatusTooManyRequests:
		body.Type = "rate_limit_error"
	case e.Status() == http.StatusNotFound:
		body.Param = ptr("model")
	}
	var pe *ParamError
	var te *textgen.ParamError
	switch {
	case errors.As(err, &pe):
		body.Param = ptr(pe.Name)
	case errors.As(err, &te):
		body.Param = ptr(openAIName(te.Name))
	}
	return e.Status(), ErrorBody{Error: body}
}

// openAIName spells a textgen parameter as OpenAI does.
func openAIName(name string) string {
	switch name {
	case "max_length", "max-length":
		return "max_tokens"
	}
	return strings.ReplaceAll(name, "-", "_")
}

func ptr(s string) *string { return &s }

// fail writes err in OpenAI's shape; a client that went away gets nothing.
func fail(c *task.Call, err error) {
	status, body := errorBody(c, err)
	c.Note("error", body.Error.Message, "code", body.Error.Code)
	if status == task.StatusClientClosed {
		task.SetStatus(c.R, task.StatusClientClosed)
		return
	}
	task.WriteJSON(c.W, status, body)
}
