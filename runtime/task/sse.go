package task

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// SSE writes a response as Server-Sent Events. The headers go out with the
// first event, so an error before it can still be a plain JSON error.
type SSE struct {
	c       *Call
	rc      *http.ResponseController
	started bool
	// WriteFailed is set when writing an event failed (the client went away).
	WriteFailed bool
}

// SSE starts an event stream on the call.
func (c *Call) SSE() *SSE { return &SSE{c: c, rc: http.NewResponseController(c.W)} }

// Started reports whether the first event (and the headers) went out.
func (s *SSE) Started() bool { return s.started }

func (s *SSE) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.c.W.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.c.W.WriteHeader(http.StatusOK)
}

// Event sends one event whose data is v as JSON, and flushes it.
func (s *SSE) Event(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write("event: " + name + "\ndata: " + string(data) + "\n\n")
}

// Data sends one unnamed event whose data is v as JSON (a string as it is), and flushes it.
func (s *SSE) Data(v any) error {
	text, ok := v.(string)
	if !ok {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		text = string(data)
	}
	return s.write("data: " + text + "\n\n")
}

// write sends one event within the stream idle limit (Limits.StreamIdle) from now.
func (s *SSE) write(event string) error {
	s.start()
	if idle := s.c.Limits.StreamIdle; idle > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(idle)) // replaces the non-streaming deadline
	}
	if _, err := io.WriteString(s.c.W, event); err != nil {
		s.WriteFailed = true
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.WriteFailed = true
		return err
	}
	return nil
}

// End finishes the stream after the work returned err: nil sends the "done"
// event with done's data; an error before the first event is a plain JSON
// error; a client that went away is recorded as 499; any other error is an
// "error" event.
func (s *SSE) End(err error, done any) {
	c := s.c
	switch {
	case err == nil:
		_ = s.Event("done", done)
	case !s.started:
		c.Fail(err)
	case s.WriteFailed || c.R.Context().Err() != nil || errors.Is(err, context.Canceled):
		c.Note("error", "client disconnected")
		SetStatus(c.R, StatusClientClosed)
	default:
		e := c.Error(err)
		c.Note("error", e.Body.Message, "code", e.Body.Code)
		_ = s.Event("error", ErrorBody{Error: e.Body})
	}
}
