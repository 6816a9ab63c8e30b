package server

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/rnnrun/rnnrun/runtime/model"
	"github.com/rnnrun/rnnrun/runtime/registry"
	"github.com/rnnrun/rnnrun/runtime/textgen"
	"github.com/rnnrun/rnnrun/runtime/vision"
)

// Error is the body of every error response: {"error": {"code": ..., "message": ...}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody wraps an Error.
type ErrorBody struct {
	Error Error `json:"error"`
}

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

// errWrongTask is a request for a task the model does not do.
var errWrongTask = errors.New("wrong task")

// classify maps a library error to a status and code.
func classifyError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	msg := err.Error()
	switch {
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, "body_too_large", msg)
	case errors.Is(err, registry.ErrNotFound):
		return newError(http.StatusNotFound, "model_not_found", msg)
	case errors.Is(err, registry.ErrBusy):
		return newError(http.StatusTooManyRequests, "model_busy", msg)
	case errors.Is(err, registry.ErrNotLoaded), errors.Is(err, registry.ErrClosed), errors.Is(err, model.ErrClosed):
		return newError(http.StatusServiceUnavailable, "model_unavailable", msg)
	case errors.Is(err, textgen.ErrInvalidParams):
		return newError(http.StatusBadRequest, "invalid_params", msg)
	case errors.Is(err, textgen.ErrUnknownChar):
		return newError(http.StatusUnprocessableEntity, "unknown_character", msg)
	case errors.Is(err, textgen.ErrEmptyPrompt):
		return newError(http.StatusUnprocessableEntity, "empty_prompt", msg)
	case errors.Is(err, errWrongTask), errors.Is(err, textgen.ErrNotTextModel), errors.Is(err, vision.ErrNotImageModel):
		return newError(http.StatusUnprocessableEntity, "wrong_task", msg)
	case errors.Is(err, vision.ErrTooLarge):
		return newError(http.StatusRequestEntityTooLarge, "image_too_large", msg)
	case errors.Is(err, vision.ErrNotImage), errors.Is(err, vision.ErrBadImage), errors.Is(err, vision.ErrEmptyImage),
		errors.Is(err, vision.ErrNoInk), errors.Is(err, vision.ErrBadPixels), errors.Is(err, vision.ErrBadSize):
		return newError(http.StatusUnprocessableEntity, "bad_image", msg)
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, "timeout", "the request took longer than the server's request timeout")
	case errors.Is(err, context.Canceled):
		return newError(statusClientClosed, "cancelled", "the request was cancelled")
	}
	return newError(http.StatusInternalServerError, "internal", msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorBody{Error{Code: code, Message: msg}})
}

// fail writes err as an error response; a client that went away gets nothing.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := classifyError(err)
	note(r, "error", ae.msg, "code", ae.code)
	if ae.status == statusClientClosed {
		setStatus(r, statusClientClosed)
		return
	}
	writeError(w, ae.status, ae.code, ae.msg)
}

// mediaType returns the request's media type, lower-cased, without parameters.
func mediaType(r *http.Request) (string, map[string]string) {
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

// decodeJSON reads a JSON body into v, refusing unknown fields and trailing data.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return newError(http.StatusBadRequest, "bad_json", "the body is not valid JSON for this request: "+err.Error())
	}
	if dec.More() {
		return newError(http.StatusBadRequest, "bad_json", "the body holds more than one JSON value")
	}
	return nil
}
