package io

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Limits of Options.Entries.
const (
	// EntriesDefault is the in-flight bound used when Options.Entries is 0.
	EntriesDefault = 256
	// EntriesMax is the largest accepted Options.Entries (the kernel's SQ limit).
	EntriesMax = 32768
)

// EnvBackend is the environment variable that forces a backend when
// Options.Backend is BackendAuto: "io_uring" or "fallback" ("auto" or empty:
// automatic selection).
const EnvBackend = "CHRONON_IO_BACKEND"

// Backend selects the implementation behind an IO.
type Backend uint8

// Backends.
const (
	// BackendAuto picks io_uring when the kernel allows it, else the fallback.
	BackendAuto Backend = iota
	// BackendIOUring is Linux io_uring; New fails if it is unavailable.
	BackendIOUring
	// BackendFallback is poll(2) for sockets and synchronous file syscalls.
	BackendFallback
)

// String returns "auto", "io_uring" or "fallback".
func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendIOUring:
		return "io_uring"
	case BackendFallback:
		return "fallback"
	}
	return fmt.Sprintf("backend(%d)", uint8(b))
}

// ParseBackend parses the names printed by Backend.String ("" means auto).
func ParseBackend(s string) (Backend, error) {
	switch s {
	case "", "auto":
		return BackendAuto, nil
	case "io_uring", "iouring", "uring":
		return BackendIOUring, nil
	case "fallback", "poll":
		return BackendFallback, nil
	}
	return BackendAuto, fmt.Errorf("%w: unknown io backend %q (want io_uring, fallback or auto)", ErrInvalid, s)
}

// Options configure New.
type Options struct {
	// Entries bounds the number of operations in flight (default
	// EntriesDefault, at most EntriesMax). It also sizes the io_uring rings.
	Entries int
	// Backend forces a backend; BackendAuto consults EnvBackend, then probes.
	Backend Backend
	// Logger receives the backend selection line (default slog.Default()).
	Logger *slog.Logger
	// LockedOSThread promises that New and every later call on the IO
	// (submissions, Tick, Wait, RunFor, Close) run on one OS thread: the
	// owning goroutine called runtime.LockOSThread before New and keeps it
	// locked until Close returned. The io_uring backend then registers its
	// ring with that thread (IORING_REGISTER_RING_FDS, Linux >= 5.18) and
	// sets it up with IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN (Linux >=
	// 6.1), each only where the kernel accepts it. Breaking the promise
	// makes io_uring_enter fail, or enter another IO's registered ring.
	// Measure before using it: on the development VM the thread lock cost
	// more latency talking to another process than the ring features saved
	// (docs/io.md, "Locking the loop's thread").
	LockedOSThread bool
}

// engine is what a backend implements. The IO does the bookkeeping common to
// both (validation, slots, the done queue, dispatch); engines move Completions
// from "in flight" to "done" by calling IO.finish.
type engine interface {
	// submit starts c (already validated, with a slot). It must not call finish
	// for io_uring; the fallback may (the callback still runs later).
	submit(c *Completion) error
	// cancel asks for c (in flight) to finish with ErrCanceled.
	cancel(c *Completion)
	// poll submits pending work and collects completions, waiting up to
	// timeoutNs (0: do not wait) for at least one. ready says that Wait has
	// callbacks to run and will not block: an engine may then keep pending
	// receives for the next poll (see uring.poll).
	poll(timeoutNs int64, ready bool) error
	// shutdown cancels everything in flight and collects it.
	shutdown()
	// release frees the engine's kernel resources.
	release() error
	// openSocket creates a socket suited to this engine.
	openSocket(family, sotype, proto int) (int, error)
}

// IO is a single-threaded completion-based event loop. It is not safe for
// concurrent use; see the package documentation.
type IO struct {
	eng     engine
	backend Backend
	slots   []*Completion // in-flight Completions by slot; keeps them reachable
	free    []uint32      // stack of free slot indices
	done    queue         // finished, callbacks pending
	// storageDone holds the finished storage operations (see isStorage):
	// WaitStorage runs only these.
	storageDone queue
	closed      bool
	running     bool // inside dispatch
}

// New starts an event loop. It selects the backend (see Options.Backend and
// EnvBackend) and logs one line saying which backend runs and, if io_uring was
// rejected, why.
func New(opts Options) (*IO, error) {
	entries := opts.Entries
	if entries == 0 {
		entries = EntriesDefault
	}
	if entries < 0 || entries > EntriesMax {
		return nil, fmt.Errorf("%w: Options.Entries %d not in [1, %d]", ErrInvalid, entries, EntriesMax)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	want, source := opts.Backend, "option"
	if want == BackendAuto {
		if env := os.Getenv(EnvBackend); env != "" {
			b, err := ParseBackend(env)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", EnvBackend, err)
			}
			want, source = b, EnvBackend
		}
	}
	if want > BackendFallback {
		return nil, fmt.Errorf("%w: Options.Backend %d", ErrInvalid, want)
	}

	io := &IO{
		slots: make([]*Completion, entries),
		free:  make([]uint32, entries),
	}
	for i := range io.free {
		io.free[i] = uint32(entries - 1 - i)
	}
	if want == BackendAuto || want == BackendIOUring {
		eng, err := newURing(io, entries, opts.LockedOSThread)
		if err == nil && uringUnavailable != nil {
			eng.release()
			err = uringUnavailable
		}
		if err == nil {
			io.eng, io.backend = eng, BackendIOUring
			logger.Info("io: backend selected", "backend", "io_uring", "entries", entries, "source", sourceOf(want, source))
			return io, nil
		}
		if want == BackendIOUring {
			return nil, fmt.Errorf("%w: io_uring forced by %s: %w", ErrBackendUnavailable, source, err)
		}
		logger.Info("io: backend selected", "backend", "fallback", "entries", entries, "reason", "io_uring unavailable: "+err.Error())
	} else {
		logger.Info("io: backend selected", "backend", "fallback", "entries", entries, "source", source)
	}
	eng, err := newFallback(io, entries)
	if err != nil {
		return nil, fmt.Errorf("io: fallback backend: %w", err)
	}
	io.eng, io.backend = eng, BackendFallback
	return io, nil
}

// uringUnavailable, when not nil, makes io_uring look unavailable with this
// reason. Tests set it to exercise backend selection.
var uringUnavailable error

func sourceOf(want Backend, source string) string {
	if want == BackendAuto {
		return "auto"
	}
	return source
}

// Backend returns the backend this IO runs on (never BackendAuto).
func (io *IO) Backend() Backend { return io.backend }

// InFlight returns the number of operations submitted whose completion has not
// been collected yet (at most Options.Entries).
func (io *IO) InFlight() int { return len(io.slots) - len(io.free) }

// Entries returns the in-flight bound.
func (io *IO) Entries() int { return len(io.slots) }

// OpenSocket creates a socket (close-on-exec, and non-blocking when the backend
// needs it) for Accept, Connect, Recv and Send. Sockets created elsewhere work
// too; the fallback switches them to non-blocking mode on Accept and Connect and
// uses MSG_DONTWAIT for Recv and Send.
func (io *IO) OpenSocket(family, sotype, proto int) (int, error) {
	if io.closed {
		return -1, ErrClosed
	}
	fd, err := io.eng.openSocket(family, sotype, proto)
	if err != nil {
		return -1, fmt.Errorf("io: socket: %w", err)
	}
	return fd, nil
}

// start validates a submission and gives c a slot. The caller then hands c to the
// engine and undoes with abort if the engine refuses it.
func (io *IO) start(c *Completion, op Operation, fd int, buf []byte, offset int64) error {
	if io.closed {
		return ErrClosed
	}
	if c == nil || c.Callback == nil || fd < 0 && op != OpTimeout || offset < 0 || uint64(len(buf)) > 1<<31 {
		return ErrInvalid
	}
	if c.state != stateIdle {
		return ErrInFlight
	}
	if len(io.free) == 0 {
		return ErrQueueFull
	}
	slot := io.free[len(io.free)-1]
	io.free = io.free[:len(io.free)-1]
	if io.slots[slot] != nil {
		panic("io: free slot is occupied")
	}
	io.slots[slot] = c
	c.op, c.fd, c.buf, c.offset = op, fd, buf, offset
	c.state, c.cancel, c.file, c.slot, c.next = stateInFlight, false, false, slot, nil
	c.gen++
	c.Result, c.Err = 0, nil
	return nil
}

func (io *IO) submit(c *Completion) error {
	if err := io.eng.submit(c); err != nil {
		io.releaseSlot(c)
		c.state = stateIdle
		return err
	}
	return nil
}

func (io *IO) releaseSlot(c *Completion) {
	if io.slots[c.slot] != c {
		panic("io: completion does not own its slot")
	}
	io.slots[c.slot] = nil
	io.free = append(io.free, c.slot)
}

// finish records the outcome of c and queues its callback. err is nil, a
// unix.Errno or ErrCanceled.
func (io *IO) finish(c *Completion, result int, err error) {
	if c.state != stateInFlight {
		panic("io: finishing a completion that is not in flight")
	}
	io.releaseSlot(c)
	c.state = stateDone
	c.Result = result
	if err != nil {
		c.opErr = OpError{Op: c.op, Fd: c.fd, Err: err}
		c.Err = &c.opErr
	}
	c.sa = nil
	if c.isStorage() {
		io.storageDone.push(c)
		return
	}
	io.done.push(c)
}

// isStorage reports whether c is a storage operation: a read or write on a
// *File, or an fsync or fdatasync. Such an operation never waits for a peer,
// and WaitStorage runs its callback.
func (c *Completion) isStorage() bool {
	return c.file || c.op == OpFsync || c.op == OpFdatasync
}

// callbacksReady returns the number of finished operations whose callbacks
// have not run yet.
func (io *IO) callbacksReady() int { return io.done.n + io.storageDone.n }

// dispatch runs the callbacks of the Completions that were done when it started
// (storage operations first); Completions finished by those callbacks wait for
// the next round, so a callback chain cannot starve the caller. It returns the
// number of callbacks run.
func (io *IO) dispatch() int {
	if io.callbacksReady() == 0 {
		return 0
	}
	prev := io.running
	io.running = true
	defer func() { io.running = prev }()
	// A callback may run WaitStorage, which takes storage completions off
	// their queue: each round stops early when its queue ran dry.
	storage, other := io.storageDone.n, io.done.n
	ran := runQueue(&io.storageDone, storage)
	return ran + runQueue(&io.done, other)
}

// dispatchStorage runs the callbacks of the storage operations done when it
// started.
func (io *IO) dispatchStorage() int {
	if io.storageDone.n == 0 {
		return 0
	}
	prev := io.running
	io.running = true
	defer func() { io.running = prev }()
	return runQueue(&io.storageDone, io.storageDone.n)
}

// runQueue runs the callbacks of at most n Completions of q.
func runQueue(q *queue, n int) int {
	ran := 0
	for ; ran < n && q.n > 0; ran++ {
		c := q.pop()
		if c.state != stateDone {
			panic("io: dispatching a completion that is not done")
		}
		c.state = stateIdle
		c.Callback(c)
	}
	return ran
}

func (io *IO) enter() error {
	if io.running {
		return ErrReentrant
	}
	if io.closed {
		return ErrClosed
	}
	return nil
}

// Tick submits pending operations and runs the callbacks of those already
// finished, without blocking.
func (io *IO) Tick() error {
	if err := io.enter(); err != nil {
		return err
	}
	err := io.eng.poll(0, false)
	io.dispatch()
	return err
}

// Wait submits pending operations, waits up to timeoutNs for at least one
// completion (not at all if some are already finished) and runs the callbacks of
// the finished ones. It returns the number of callbacks run, which may be 0
// on timeout or a spurious wake-up. On io_uring, a Wait that does not block
// because callbacks are ready and finds only receives pending leaves them for
// the next Tick or Wait to submit (a Wait then submits and sleeps in one
// system call).
func (io *IO) Wait(timeoutNs int64) (int, error) {
	if err := io.enter(); err != nil {
		return 0, err
	}
	ready := io.callbacksReady() > 0
	if timeoutNs < 0 || ready {
		timeoutNs = 0
	}
	err := io.eng.poll(timeoutNs, ready)
	return io.dispatch(), err
}

// WaitStorage runs the loop for one synchronous step of a storage layered on
// it (journal.IOStorage waiting for its own write): it submits pending
// operations, waits up to timeoutNs for a completion unless a storage
// operation already finished, and runs the callbacks of finished storage
// operations only (ReadFile, WriteFile, WriteDurable, Fsync, Fdatasync). The
// other callbacks stay queued, in order, for the next Tick or Wait. Unlike
// Tick and Wait, it may be called from inside a callback: a message handler
// can wait for the disk without re-entering itself. It returns the number of
// callbacks run, which may be 0 when something else completed.
func (io *IO) WaitStorage(timeoutNs int64) (int, error) {
	if io.closed {
		return 0, ErrClosed
	}
	if io.storageDone.n > 0 || timeoutNs < 0 {
		timeoutNs = 0
	}
	err := io.eng.poll(timeoutNs, false)
	return io.dispatchStorage(), err
}

// RunFor runs the event loop for ns nanoseconds: it submits, waits and runs
// callbacks until the monotonic clock passed ns from the call. ns <= 0 is Tick.
func (io *IO) RunFor(ns int64) error {
	if ns <= 0 {
		return io.Tick()
	}
	deadline := monotonic() + ns
	for {
		remaining := deadline - monotonic()
		if remaining <= 0 {
			return io.Tick()
		}
		if _, err := io.Wait(remaining); err != nil {
			return err
		}
	}
}

// Cancel asks for the in-flight operation of c to stop. Its callback still runs
// exactly once, later, from the event loop: with ErrCanceled, or with its real
// result if it finished first. Cancel of an idle or already finished Completion
// does nothing.
func (io *IO) Cancel(c *Completion) error {
	if io.closed {
		return ErrClosed
	}
	if c == nil || c.state != stateInFlight || c.cancel {
		return nil
	}
	io.eng.cancel(c)
	return nil
}

// Close cancels every operation in flight, waits for the kernel to release them,
// runs all pending callbacks (canceled operations see ErrCanceled; operations
// that finished meanwhile see their result; submissions from these callbacks
// fail with ErrClosed) and frees the kernel resources. It does not close the
// file descriptors the operations used. Close is idempotent.
func (io *IO) Close() error {
	if io.running {
		return ErrReentrant
	}
	if io.closed {
		return nil
	}
	io.closed = true
	io.eng.shutdown()
	for io.callbacksReady() > 0 {
		io.dispatch()
	}
	return io.eng.release()
}

var epoch = time.Now()

// monotonic returns nanoseconds on a monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) }

// errnoOf converts a negative kernel result into the error recorded in a
// Completion: ECANCELED becomes ErrCanceled, anything else stays a unix.Errno.
func errnoOf(negative int32) error {
	e := unix.Errno(-negative)
	if e == unix.ECANCELED {
		return ErrCanceled
	}
	return e
}
