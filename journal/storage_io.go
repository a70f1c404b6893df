package journal

import (
	"fmt"
	"time"

	"github.com/chronon-db/chronon/internal/invariants"
	cio "github.com/chronon-db/chronon/io"
)

// IOStorage is Storage over a data file driven by an io.IO event loop:
// io_uring on Linux, the portable fallback elsewhere. The IO may be the one
// that runs everything else (a replica's sockets): operations submitted here
// complete in the loop like any other, and Tick, which the journal's
// synchronous steps call to wait, runs only storage callbacks
// (io.IO.WaitStorage), so it may run from inside a socket's callback.
//
// Operation records come from a fixed pool sized at construction; Tick
// blocks until an operation completes (or 10 ms pass), so the journal's
// synchronous steps sleep in the kernel instead of spinning.
type IOStorage struct {
	io   *cio.IO
	file *cio.File
	size uint64
	ops  []ioStorageOp
	free []*ioStorageOp
	// failed holds submissions the IO refused; their callbacks run on the
	// next Tick with the error.
	failed []ioStorageOp
}

type ioStorageOp struct {
	c      cio.Completion
	s      *IOStorage
	cb     func(error)
	buf    []byte
	offset uint64
	done   int
	write  bool
	// durable: a WriteDurable (RWF_DSYNC); split: its transfer took more
	// than one submission, so an fdatasync ends it (each piece was durable
	// only for its own bytes).
	durable, split bool
	err            error
}

// NewIOStorage drives the data file f of size bytes (opened by
// io.OpenDataFile, with O_DIRECT) through ioq, with at most inflight
// operations at once. f must stay open while the storage is used.
func NewIOStorage(ioq *cio.IO, f *cio.File, size uint64, inflight int) *IOStorage {
	invariants.Assert(inflight > 0, "journal: IOStorage without operation records")
	invariants.Assert(size%SectorSize == 0, "journal: IOStorage size not sector-aligned")
	s := &IOStorage{io: ioq, file: f, size: size, ops: make([]ioStorageOp, inflight)}
	for i := range s.ops {
		op := &s.ops[i]
		op.s = s
		op.c.Callback = onIOStorageDone
		op.c.Context = op
		s.free = append(s.free, op)
	}
	return s
}

var _ Storage = (*IOStorage)(nil)

// Rebind moves the storage to another IO (a node opens its journal on a
// small ring, then runs it on the loop's). No operation may be in flight.
func (s *IOStorage) Rebind(ioq *cio.IO) {
	invariants.Assert(ioq != nil, "journal: IOStorage rebound to no IO")
	if len(s.free) != len(s.ops) || len(s.failed) > 0 {
		invariants.Failf("journal: IOStorage rebound with %d operations in flight", len(s.ops)-len(s.free)+len(s.failed))
	}
	s.io = ioq
}

// Size implements Storage.
func (s *IOStorage) Size() uint64 { return s.size }

// Read implements Storage.
func (s *IOStorage) Read(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, s.size)
	invariants.Assert(cb != nil, "journal: storage read without a callback")
	invariants.Assert(s.file != nil, "journal: storage read without a file")
	s.start(buf, offset, false, cb)
}

// Write implements Storage.
func (s *IOStorage) Write(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, s.size)
	invariants.Assert(cb != nil, "journal: storage write without a callback")
	invariants.Assert(s.file != nil, "journal: storage write without a file")
	s.start(buf, offset, true, cb)
}

// WriteDurable implements Storage with a write carrying RWF_DSYNC: one
// operation, no separate fdatasync round trip through the loop.
func (s *IOStorage) WriteDurable(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, s.size)
	invariants.Assert(cb != nil && s.file != nil, "journal: durable write without a callback or a file")
	op := s.take(cb)
	if op == nil {
		return
	}
	op.buf, op.offset, op.write, op.done, op.durable = buf, offset, true, 0, true
	s.submit(op)
}

// Sync implements Storage with fdatasync (the file is preallocated).
func (s *IOStorage) Sync(cb func(error)) {
	invariants.Assert(cb != nil, "journal: storage sync without a callback")
	invariants.Assert(s.file != nil, "journal: storage sync without a file")
	op := s.take(cb)
	if op == nil {
		return
	}
	if err := s.io.Fdatasync(&op.c, s.file.Fd); err != nil {
		s.refuse(op, err)
	}
}

// Tick implements Storage: it runs the IO until an operation completed (at
// most 10 ms) and runs the callbacks of finished storage operations, this
// storage's among them; other callbacks wait for the loop's next turn.
func (s *IOStorage) Tick() {
	if len(s.failed) > 0 {
		failed := s.failed
		s.failed = nil
		for _, f := range failed {
			f.cb(f.err)
		}
		return
	}
	invariants.Assert(len(s.free) <= len(s.ops), "journal: more free operation records than records")
	if _, err := s.io.WaitStorage(int64(10 * time.Millisecond)); err != nil {
		// Not an invariant: the kernel refused to run the ring, and the
		// journal cannot go on without its storage.
		panic(fmt.Errorf("journal: storage event loop: %w", err))
	}
}

func (s *IOStorage) start(buf []byte, offset uint64, write bool, cb func(error)) {
	op := s.take(cb)
	if op == nil {
		return
	}
	invariants.Assert(len(buf) > 0, "journal: empty storage transfer")
	op.buf, op.offset, op.write, op.done = buf, offset, write, 0
	s.submit(op)
}

// take returns a free operation record, or reports an error to cb (on the
// next Tick) when all are in flight.
func (s *IOStorage) take(cb func(error)) *ioStorageOp {
	if len(s.free) == 0 {
		s.failed = append(s.failed, ioStorageOp{cb: cb, err: fmt.Errorf("%w: %d storage operations in flight", ErrIO, len(s.ops))})
		return nil
	}
	op := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	invariants.Assert(op.cb == nil && op.buf == nil, "journal: operation record on the free list is in use")
	op.cb, op.err = cb, nil
	return op
}

func (s *IOStorage) submit(op *ioStorageOp) {
	invariants.Assert(op.cb != nil && op.done < len(op.buf), "journal: submission of an idle or finished transfer")
	rest := op.buf[op.done:]
	off := int64(op.offset) + int64(op.done)
	var err error
	switch {
	case op.write && op.durable:
		err = s.io.WriteDurable(&op.c, s.file, rest, off)
	case op.write:
		err = s.io.WriteFile(&op.c, s.file, rest, off)
	default:
		err = s.io.ReadFile(&op.c, s.file, rest, off)
	}
	if err != nil {
		s.refuse(op, err)
	}
}

func (s *IOStorage) refuse(op *ioStorageOp, err error) {
	invariants.Assert(err != nil && op.cb != nil, "journal: refusal without an error or a callback")
	s.failed = append(s.failed, ioStorageOp{cb: op.cb, err: fmt.Errorf("%w: %w", ErrIO, err)})
	s.release(op)
}

func (s *IOStorage) release(op *ioStorageOp) {
	invariants.Assert(op.cb != nil, "journal: release of a free operation record")
	invariants.Assert(len(s.free) < len(s.ops), "journal: operation record released twice")
	op.cb, op.buf, op.durable, op.split = nil, nil, false, false
	s.free = append(s.free, op)
}

func onIOStorageDone(c *cio.Completion) {
	op := c.Context.(*ioStorageOp)
	s := op.s
	invariants.Assert(op.cb != nil, "journal: completion of an idle operation record")
	var err error
	switch {
	case c.Err != nil:
		err = fmt.Errorf("%w: %w", ErrIO, c.Err)
	case op.buf != nil && c.Result == 0:
		err = fmt.Errorf("%w: no progress at offset %d (end of file)", ErrIO, op.offset+uint64(op.done))
	case op.buf != nil:
		op.done += c.Result
		// The kernel never transfers more than asked.
		invariants.Assert(c.Result > 0 && op.done <= len(op.buf), "journal: transfer beyond its buffer")
		if op.done < len(op.buf) {
			op.split = op.durable
			s.submit(op) // a short transfer: continue where it stopped
			return
		}
		if op.split {
			// A durable write done in pieces: one fdatasync covers them
			// all before the write counts as durable.
			op.buf, op.split = nil, false
			if err := s.io.Fdatasync(&op.c, s.file.Fd); err != nil {
				cb := op.cb
				s.release(op)
				cb(fmt.Errorf("%w: %w", ErrIO, err))
			}
			return
		}
	}
	cb := op.cb
	s.release(op)
	cb(err)
}
