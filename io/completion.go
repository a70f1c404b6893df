package io

import "strconv"

// Operation names the kind of an operation.
type Operation uint8

// Operations.
const (
	OpNone Operation = iota
	OpRead
	OpWrite
	OpFsync
	OpFdatasync
	OpAccept
	OpConnect
	OpRecv
	OpSend
	OpClose
	OpTimeout
	OpWriteDurable // a write that completes once durable (IO.WriteDurable)
)

var opNames = [...]string{
	OpNone: "none", OpRead: "read", OpWrite: "write", OpFsync: "fsync",
	OpFdatasync: "fdatasync", OpAccept: "accept", OpConnect: "connect",
	OpRecv: "recv", OpSend: "send", OpClose: "close", OpTimeout: "timeout",
	OpWriteDurable: "write_durable",
}

// String returns the operation's lower-case name.
func (o Operation) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Callback is called once per submitted operation, from the event loop, with the
// Completion whose Result and Err describe the outcome.
type Callback func(c *Completion)

// state is the lifecycle of a Completion.
type state uint8

const (
	stateIdle     state = iota // owned by the caller
	stateInFlight              // owned by the IO (and maybe the kernel)
	stateDone                  // finished, callback not yet run
)

// Completion is the caller-owned record of one operation. The caller sets
// Callback (required) and Context (optional) and passes the Completion to an
// operation method; it must not touch the Completion again until the callback
// ran, after which it may reuse it for the next operation. A Completion is
// usually embedded in, or allocated once alongside, the caller's own state.
type Completion struct {
	// Callback receives the finished Completion. Required.
	Callback Callback
	// Context is free for the caller, for example a pointer to the object that
	// owns this Completion. The IO never reads it.
	Context any

	// Result is set before the callback runs: the number of bytes read, written,
	// received or sent; the new file descriptor for Accept; 0 otherwise. A Recv
	// or Read with Result 0 and a nil Err means end of file / orderly shutdown.
	Result int
	// Err is nil on success, otherwise an *OpError wrapping a unix.Errno or
	// ErrCanceled. A Timeout that expired completes with a nil Err.
	Err error

	op     Operation
	state  state
	cancel bool // a cancellation was requested (io_uring: the cancel SQE is out)
	file   bool // submitted on a *File (ReadFile, WriteFile, WriteDurable): may run inline
	fd     int
	buf    []byte
	offset int64

	slot     uint32 // index into IO.slots while in flight
	gen      uint32 // bumped on every submission; with slot forms the io_uring user_data
	next     *Completion
	deadline int64 // fallback timers: monotonic deadline in ns; Timeout: duration in ns
	events   int16 // fallback: poll events awaited

	sa    any        // fallback connect: the unix.Sockaddr
	rawSa [14]uint64 // io_uring connect: encoded sockaddr (112 bytes, 8-aligned)
	saLen uint32
	ts    [2]int64 // io_uring timeout: struct __kernel_timespec

	opErr OpError
}

// Operation returns the kind of the last operation submitted with c.
func (c *Completion) Operation() Operation { return c.op }

// Fd returns the file descriptor of the last operation submitted with c.
func (c *Completion) Fd() int { return c.fd }

// Buffer returns the buffer of the last read, write, Recv or Send submitted with c.
func (c *Completion) Buffer() []byte { return c.buf }

// InFlight reports whether c was submitted and its callback has not run yet.
func (c *Completion) InFlight() bool { return c.state != stateIdle }

// queue is an intrusive FIFO of Completions linked through next.
type queue struct {
	head, tail *Completion
	n          int
}

func (q *queue) push(c *Completion) {
	if c.next != nil {
		panic("io: completion queued twice")
	}
	if q.tail == nil {
		q.head = c
	} else {
		q.tail.next = c
	}
	q.tail = c
	q.n++
}

func (q *queue) pop() *Completion {
	c := q.head
	if c == nil {
		return nil
	}
	q.head = c.next
	if q.head == nil {
		q.tail = nil
	}
	c.next = nil
	q.n--
	return c
}
