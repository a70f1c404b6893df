package io

import (
	"errors"
	"strconv"
)

// Sentinel errors. Completion errors and submission errors can be tested with
// errors.Is; errors reported by the kernel wrap the errno (a unix.Errno), so
// errors.Is(err, unix.ECONNRESET) works as well.
var (
	// ErrCanceled is the completion error of an operation that was canceled by
	// IO.Cancel, IO.CloseFd on its file descriptor, or IO.Close.
	ErrCanceled = errors.New("io: operation canceled")
	// ErrClosed is returned when submitting to, or running, a closed IO.
	ErrClosed = errors.New("io: closed")
	// ErrQueueFull is returned by a submission when Options.Entries operations
	// are already in flight. Nothing is queued; retry after completions ran.
	ErrQueueFull = errors.New("io: too many operations in flight")
	// ErrInFlight is returned when a Completion is submitted again before its
	// callback ran.
	ErrInFlight = errors.New("io: completion already in flight")
	// ErrInvalid is returned for invalid arguments (nil callback, negative fd or
	// offset, buffer too large, unsupported socket address).
	ErrInvalid = errors.New("io: invalid argument")
	// ErrReentrant is returned when Tick, Wait, RunFor or Close is called from
	// inside a completion callback.
	ErrReentrant = errors.New("io: event loop called from a callback")
	// ErrBackendUnavailable is returned by New when the requested backend cannot
	// run here (for example io_uring forced on a kernel or sandbox refusing it).
	ErrBackendUnavailable = errors.New("io: backend unavailable")
	// ErrDirectIOUnsupported is returned by OpenDataFile when the file system
	// refuses O_DIRECT and the O_DSYNC fallback was not allowed.
	ErrDirectIOUnsupported = errors.New("io: file system does not support O_DIRECT")
	// ErrLocked is returned by OpenDataFile when another open file description
	// (this process or another) holds the exclusive lock on the data file.
	ErrLocked = errors.New("io: data file is locked by another user")
	// ErrAddrInUse is wrapped by ListenTCP's error when another socket
	// listens on the address (EADDRINUSE at bind).
	ErrAddrInUse = errors.New("io: address in use")
)

// OpError is the error a Completion carries when its operation failed. It is
// stored inside the Completion, so reporting it does not allocate. Unwrap yields
// the cause: a unix.Errno from the kernel, or ErrCanceled.
type OpError struct {
	// Op is the operation that failed.
	Op Operation
	// Fd is the file descriptor the operation used (-1 for timeouts).
	Fd int
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *OpError) Error() string {
	return "io: " + e.Op.String() + " fd " + strconv.Itoa(e.Fd) + ": " + e.Err.Error()
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *OpError) Unwrap() error { return e.Err }
