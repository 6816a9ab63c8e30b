package task

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
)

// Call is one request to a task's route: the writer and request, the model
// it names, the server's limits and the way to the registry.
type Call struct {
	W      http.ResponseWriter
	R      *http.Request
	Model  string // the {name} of the route
	Limits Limits
	// Decode is the server-wide budget of decoded input in flight (nil: unbounded).
	Decode *Budget

	task     string
	reg      *registry.Registry
	mapError func(error) (int, string, bool)
}

// NewCall is used by the server to hand a request to a task's route.
func NewCall(w http.ResponseWriter, r *http.Request, reg *registry.Registry, task string, limits Limits, mapError func(error) (int, string, bool)) *Call {
	return &Call{W: w, R: r, Model: r.PathValue("name"), Limits: limits, task: task, reg: reg, mapError: mapError}
}

// Acquire leases the current version of the model and returns what this
// task prepared for it; the caller releases the lease. A model this task does
// not serve gives registry.ErrWrongTask.
func (c *Call) Acquire() (*registry.Lease, registry.Instance, error) {
	lease, err := c.reg.Acquire(c.Model)
	if err != nil {
		return nil, nil, err
	}
	c.Note("sha256", lease.Version().SHA256[:12])
	in, err := lease.Instance(c.task)
	if err != nil {
		lease.Release()
		return nil, nil, err
	}
	return lease, in, nil
}

// ErrBodyTimeout is a request body that did not arrive within the server's
// body timeout (408).
var ErrBodyTimeout = errors.New("request body timeout")

// Known fails the call with 404 unless the model is configured (so a bad
// request for an unknown model says so before its body is read).
func (c *Call) Known() bool {
	if c.reg.Has(c.Model) {
		return true
	}
	c.Fail(fmt.Errorf("%w: %q", registry.ErrNotFound, c.Model))
	return false
}

// Context is the request's context, bounded by the request timeout.
func (c *Call) Context() (context.Context, context.CancelFunc) {
	if c.Limits.RequestTimeout > 0 {
		return context.WithTimeout(c.R.Context(), c.Limits.RequestTimeout)
	}
	return context.WithCancel(c.R.Context())
}

// DecodeJSON reads an application/json body (no Content-Type is taken as
// JSON) of at most MaxBodyBytes into v, refusing unknown fields and trailing data.
func (c *Call) DecodeJSON(v any) error {
	if mt, _ := MediaType(c.R); mt != "application/json" && mt != "" {
		return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: this request is application/json", mt))
	}
	c.LimitBody()
	return DecodeJSON(c.R, v)
}

// LimitBody caps the body at MaxBodyBytes (413 above it).
func (c *Call) LimitBody() { c.R.Body = http.MaxBytesReader(c.W, c.R.Body, c.Limits.MaxBodyBytes) }

// JSON writes v with status.
func (c *Call) JSON(status int, v any) { WriteJSON(c.W, status, v) }

// Note adds attributes to the request's log line.
func (c *Call) Note(attrs ...any) { Note(c.R, attrs...) }

// Fail writes err as an error response; a client that went away gets nothing.
func (c *Call) Fail(err error) {
	e := c.Error(err)
	c.Note("error", e.Body.Message, "code", e.Body.Code)
	if e.status == StatusClientClosed {
		SetStatus(c.R, StatusClientClosed)
		return
	}
	WriteJSON(c.W, e.status, ErrorBody{Error: e.Body})
}

// Error maps err to its status and code: the task's mapping first, then the common one.
func (c *Call) Error(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	if c.mapError != nil {
		if status, code, ok := c.mapError(err); ok {
			return NewError(status, code, err.Error())
		}
	}
	return MapError(err)
}

// Error is the body of every error response: {"error": {"code": ..., "message": ...}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody wraps an Error.
type ErrorBody struct {
	Error Error `json:"error"`
}

// APIError is an error with its HTTP status and stable code.
type APIError struct {
	Body   Error
	status int
}

// NewError makes an APIError.
func NewError(status int, code, msg string) *APIError {
	return &APIError{Body: Error{Code: code, Message: msg}, status: status}
}

func (e *APIError) Error() string { return e.Body.Message }

// Status is the HTTP status of the error.
func (e *APIError) Status() int { return e.status }

// StatusClientClosed is recorded (never sent) when the client went away first, as nginx does.
const StatusClientClosed = 499

// MapError maps the errors every route shares (registry, body size, time
// limits, wrong task) to a status and code; anything else is a 500.
func MapError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	msg := err.Error()
	switch {
	case errors.As(err, &mbe):
		return NewError(http.StatusRequestEntityTooLarge, "body_too_large", msg)
	case errors.Is(err, ErrBodyTimeout):
		return NewError(http.StatusRequestTimeout, "body_timeout", msg)
	case errors.Is(err, registry.ErrNotFound):
		return NewError(http.StatusNotFound, "model_not_found", msg)
	case errors.Is(err, registry.ErrBusy):
		return NewError(http.StatusTooManyRequests, "model_busy", msg)
	case errors.Is(err, registry.ErrNotLoaded), errors.Is(err, registry.ErrClosed), errors.Is(err, model.ErrClosed):
		return NewError(http.StatusServiceUnavailable, "model_unavailable", msg)
	case errors.Is(err, registry.ErrWrongTask):
		return NewError(http.StatusUnprocessableEntity, "wrong_task", msg)
	case errors.Is(err, context.DeadlineExceeded):
		return NewError(http.StatusGatewayTimeout, "timeout", "the request took longer than the server's request timeout")
	case errors.Is(err, context.Canceled):
		return NewError(StatusClientClosed, "cancelled", "the request was cancelled")
	}
	return NewError(http.StatusInternalServerError, "internal", msg)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError writes an error body.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, ErrorBody{Error{Code: code, Message: msg}})
}

// MediaType returns the request's media type, lower-cased, without parameters.
func MediaType(r *http.Request) (string, map[string]string) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(ct), nil
	}
	return mt, params
}

// DecodeJSON reads a JSON body into v, refusing unknown fields and trailing data.
func DecodeJSON(r *http.Request, v any) error {
	br := bufio.NewReader(r.Body)
	if isNull(br) {
		return NewError(http.StatusBadRequest, "bad_json", "the body is JSON null; send an object")
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if BodyError(err) {
			return err
		}
		return NewError(http.StatusBadRequest, "bad_json", "the body is not valid JSON for this request: "+err.Error())
	}
	if dec.More() {
		return NewError(http.StatusBadRequest, "bad_json", "the body holds more than one JSON value")
	}
	return nil
}

// isNull reports whether the JSON value ahead in br is null (which
// encoding/json would take as an empty object), peeking only.
func isNull(br *bufio.Reader) bool {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil || len(b) < i {
			return false
		}
		switch b[i-1] {
		case ' ', '\t', '\n', '\r':
			continue
		case 'n':
			rest, _ := br.Peek(i + 3)
			return string(rest[i-1:]) == "null"
		}
		return false
	}
}

// BodyError reports whether err is the body's own limit (too large, too
// slow) rather than bad content: such errors keep their own status.
func BodyError(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, ErrBodyTimeout)
}

// Outcome lets a handler override the recorded status (e.g. a client that
// disconnected mid-stream) and add log attributes.
type Outcome struct {
	Status int
	Attrs  []any
}

type outcomeKey struct{}

// Track attaches a fresh Outcome to the request (the server does it for every request).
func Track(r *http.Request) (*http.Request, *Outcome) {
	o := &Outcome{}
	return r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)), o
}

// Note adds attributes to the request's log line.
func Note(r *http.Request, attrs ...any) {
	if o, ok := r.Context().Value(outcomeKey{}).(*Outcome); ok {
		o.Attrs = append(o.Attrs, attrs...)
	}
}

// SetStatus overrides the status recorded for the request.
func SetStatus(r *http.Request, status int) {
	if o, ok := r.Context().Value(outcomeKey{}).(*Outcome); ok {
		o.Status = status
	}
}

// Handle runs the shape every model route shares: the model must be
// configured (404); read parses and checks the request before a concurrency
// slot is taken (so a bad request is a 4xx even when the model is busy); run
// works on the instance the task prepared for the leased version. An error
// from either is written as the error response; run writes the answer.
func Handle[B any, I registry.Instance](c *Call, read func(*Call) (B, error), run func(c *Call, lease *registry.Lease, in I, body B) error) {
	if !c.Known() {
		return
	}
	body, err := read(c)
	if err != nil {
		c.Fail(err)
		return
	}
	lease, inst, err := c.Acquire()
	if err != nil {
		c.Fail(err)
		return
	}
	defer lease.Release()
	in, ok := inst.(I)
	if !ok {
		c.Fail(fmt.Errorf("task %s: instance of type %T, want %T", c.task, inst, in))
		return
	}
	if err := run(c, lease, in, body); err != nil {
		c.Fail(err)
	}
}
