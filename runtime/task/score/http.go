package score

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/task"
	"github.com/rnnrun/rnnrun/runtime/textgen"
)

// HTTPRequest is the body of POST .../models/{name}/score.
type HTTPRequest struct {
	Text string `json:"text"`
	// Mode is "auto" (or empty), "stateful" or "windowed".
	Mode string `json:"mode,omitempty"`
	// Stream answers with Server-Sent Events: "progress" events, then "done".
	Stream bool `json:"stream,omitempty"`
}

// Response is the answer: the model, its version and the result.
type Response struct {
	Model   string           `json:"model"`
	Version registry.Version `json:"version"`
	Result
}

// ProgressEvent is the data of a streamed "progress" event.
type ProgressEvent struct {
	Scored int `json:"scored"`
	Total  int `json:"total"`
}

// NewHTTP implements task.HTTP.
func (Task) NewHTTP() task.Handlers {
	h := &handler{chars: task.ModelCounter("rnnrun_scored_characters_total", "Characters scored, by model.")}
	return task.Post(Name, h.score, h.chars, MapError)
}

type handler struct{ chars *prometheus.CounterVec }

func (h *handler) score(c *task.Call) { task.Handle(c, readBody, h.run) }

type body struct {
	req    Request
	stream bool
}

func readBody(c *task.Call) (body, error) {
	var b HTTPRequest
	if err := c.DecodeJSON(&b); err != nil {
		return body{}, err
	}
	mode, err := textgen.ParseMode(b.Mode)
	if err != nil {
		return body{}, task.NewError(http.StatusBadRequest, "invalid_params", err.Error())
	}
	if b.Text == "" {
		return body{}, task.NewError(http.StatusUnprocessableEntity, "empty_text", `"text" is empty: there is nothing to score`)
	}
	return body{req: Request{Text: b.Text, Mode: mode}, stream: b.Stream}, nil
}

func (h *handler) run(c *task.Call, lease *registry.Lease, in *Instance, b body) error {
	ctx, cancel := c.Context()
	defer cancel()
	var sse *task.SSE
	if b.stream {
		sse = c.SSE()
		b.req.Progress = func(scored, total int) { _ = sse.Event("progress", ProgressEvent{Scored: scored, Total: total}) }
	}
	res, err := in.Scorer().Score(ctx, b.req)
	h.chars.WithLabelValues(c.Model).Add(float64(res.Chars))
	c.Note("chars", res.Chars)
	resp := Response{Model: c.Model, Version: lease.Version(), Result: res}
	if sse != nil {
		sse.End(err, resp)
		return nil
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, resp)
	return nil
}
