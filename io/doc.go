// Package io is Chronon's only door to the operating system: a single-threaded,
// completion-based event loop for file and socket I/O.
//
// Importers alias it to avoid shadowing the standard library:
//
//	import cio "github.com/chronon-db/chronon/io"
//
// # Model
//
// The caller owns a [Completion] per operation, sets its Callback (and optionally
// Context), and submits it with one of the operation methods of [IO]: ReadFile,
// WriteFile and WriteDurable on a [File] from [OpenDataFile]; Read, Write, Fsync,
// Fdatasync, Accept, Connect, Recv, Send, CloseFd and Timeout on a file
// descriptor. Submission never runs the callback; callbacks run later, on the
// caller's goroutine, from [IO.Tick], [IO.Wait], [IO.RunFor] or [IO.Close], one
// after the other and never recursively.
// A callback may submit new operations (including reusing its own Completion).
//
// Buffers passed to an operation belong to the kernel until the callback runs: the
// caller must neither modify nor reuse them before. The IO keeps every in-flight
// Completion (and through it the buffer and any socket address) reachable, so the
// garbage collector cannot free memory the kernel still uses.
//
// # Bounds
//
// At most Options.Entries operations are in flight; one more submission returns
// [ErrQueueFull] without side effects (nothing is queued). All bookkeeping is
// allocated in [New]; submitting and completing operations does not allocate.
//
// # Backends
//
// On Linux the default backend is io_uring, driven directly through
// golang.org/x/sys/unix (no cgo, no third-party ring library). Where io_uring is
// missing or blocked (old kernels, seccomp, io_uring_disabled) and on other Unix
// systems a portable fallback runs instead: non-blocking sockets multiplexed with
// poll(2), and file operations executed synchronously at submission with their
// completion delivered on the next Tick. See docs/io.md for the design.
//
// # Concurrency
//
// An IO is not safe for concurrent use: create it, submit to it and run it from one
// goroutine. Several IO instances may run on several goroutines.
package io
