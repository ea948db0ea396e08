package server

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them with the detail the caller
// lacks (the document ID, the field); test them with errors.Is.
var (
	// ErrInvalidConfig is returned by New for a Config field with a bad value; the message names it.
	ErrInvalidConfig = errors.New("server: invalid config")

	// ErrShuttingDown is returned to requests that arrive after Shutdown has begun.
	ErrShuttingDown = errors.New("server: shutting down")
)
