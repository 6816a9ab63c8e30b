package model

import "errors"

// Errors that callers can test with errors.Is.
var (
	// ErrBadInput: the caller's tensors do not fit the model (names, types, shapes).
	ErrBadInput = errors.New("bad input")
	// ErrBadModel: the model file is missing, unreadable, malformed or lacks required metadata.
	ErrBadModel = errors.New("bad model")
	// ErrClosed: the model was used after Close.
	ErrClosed = errors.New("model closed")
	// ErrNoBackend: no backend of that name is compiled in.
	ErrNoBackend = errors.New("backend not available")
	// ErrLibrary: a backend's native library could not be found or loaded.
	ErrLibrary = errors.New("native library not available")
)
