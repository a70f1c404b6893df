package journal

import (
	"fmt"
	"unsafe"

	"github.com/chronon-db/chronon/internal/invariants"
)

// Storage is the narrow interface between the journal and the data file.
// Buffers, offsets and lengths must be multiples of SectorSize and buffers
// must start at a SectorSize-aligned address (O_DIRECT rules; both
// implementations panic on a violation, which is a caller bug).
//
// Operations complete asynchronously: the callback runs later, from Tick,
// never inline from Read/Write/Sync, so it fits a single-threaded event loop.
// A Write is durable only after a Sync submitted after the write's
// completion has itself completed; a WriteDurable is durable when it
// completes.
type Storage interface {
	// Read fills buf from offset and then calls cb.
	Read(buf []byte, offset uint64, cb func(error))
	// Write stores buf at offset and then calls cb.
	Write(buf []byte, offset uint64, cb func(error))
	// WriteDurable stores buf at offset and calls cb once those bytes are
	// durable: a Write and a Sync of that write alone, in one operation
	// (pwritev2 with RWF_DSYNC). Other writes not yet synced stay so.
	WriteDurable(buf []byte, offset uint64, cb func(error))
	// Sync makes completed writes durable and then calls cb.
	Sync(cb func(error))
	// Tick advances the storage by one tick and runs the callbacks of the
	// operations that are complete.
	Tick()
	// Size returns the size of the storage in bytes.
	Size() uint64
}

// waitTicksMax bounds how long the journal's synchronous helpers wait for
// one operation; a storage that never completes is a bug in the storage.
const waitTicksMax = 1 << 20

// syncIO runs storage operations one at a time and waits for each (by
// ticking the storage). The journal's multi-step protocols (superblock
// update, checkpoint, recovery) are sequences of dependent writes and syncs,
// so they are written as straight-line code over these helpers; the
// callback-style Storage keeps the door open for an event-loop driver.
type syncIO struct {
	s    Storage
	busy bool // an operation is submitted and not yet waited for
	done bool
	err  error
	cb   func(error)
	// completing is set while the journal runs an asynchronous write's
	// completion callback: a synchronous operation from there would tick
	// the storage inside its own completion (io_uring: reaping inside the
	// reaping), so it is refused.
	completing bool
}

func newSyncIO(s Storage) *syncIO {
	invariants.Assert(s != nil, "journal: nil storage")
	invariants.Assert(s.Size()%SectorSize == 0, "journal: storage size not sector-aligned")
	io := &syncIO{s: s}
	io.cb = func(err error) {
		invariants.Assert(io.busy && !io.done, "journal: storage completed an operation twice or unasked")
		io.done, io.err = true, err
	}
	return io
}

// start marks an operation submitted: the helpers run one at a time.
func (io *syncIO) start() {
	invariants.Assert(!io.busy && !io.done, "journal: synchronous storage operation while another is in flight")
	invariants.Assert(!io.completing, "journal: synchronous storage operation from a write's completion callback")
	invariants.Assert(io.cb != nil, "journal: synchronous storage without its callback")
	io.busy = true
}

func (io *syncIO) wait(what string) error {
	invariants.Assert(io.busy, "journal: wait without an operation")
	for i := 0; !io.done; i++ {
		if i == waitTicksMax {
			panic("journal: storage did not complete " + what)
		}
		io.s.Tick()
	}
	invariants.Assert(io.done, "journal: wait ended before its operation")
	io.done, io.busy = false, false
	return io.err
}

func (io *syncIO) read(buf []byte, off uint64) error {
	invariants.Assert(len(buf) > 0 && off%SectorSize == 0, "journal: empty or unaligned read")
	invariants.Assert(off+uint64(len(buf)) <= io.s.Size(), "journal: read beyond the storage")
	io.start()
	io.s.Read(buf, off, io.cb)
	if err := io.wait("read"); err != nil {
		return fmt.Errorf("%w: read %d bytes at %d: %w", ErrIO, len(buf), off, err)
	}
	return nil
}

func (io *syncIO) write(buf []byte, off uint64) error { return io.writeAt(buf, off, false) }

// writeDurable writes buf at off and returns once it is durable (one
// Storage.WriteDurable: no separate sync).
func (io *syncIO) writeDurable(buf []byte, off uint64) error { return io.writeAt(buf, off, true) }

func (io *syncIO) writeAt(buf []byte, off uint64, durable bool) error {
	invariants.Assert(len(buf) > 0 && off%SectorSize == 0, "journal: empty or unaligned write")
	invariants.Assert(off+uint64(len(buf)) <= io.s.Size(), "journal: write beyond the storage")
	io.start()
	what := "write"
	if durable {
		what = "durable write"
		io.s.WriteDurable(buf, off, io.cb)
	} else {
		io.s.Write(buf, off, io.cb)
	}
	if err := io.wait(what); err != nil {
		return fmt.Errorf("%w: %s %d bytes at %d: %w", ErrIO, what, len(buf), off, err)
	}
	return nil
}

func (io *syncIO) sync() error {
	invariants.Assert(io.s != nil, "journal: sync without a storage")
	io.start()
	io.s.Sync(io.cb)
	if err := io.wait("sync"); err != nil {
		return fmt.Errorf("%w: sync: %w", ErrIO, err)
	}
	invariants.Assert(!io.busy, "journal: sync returned with an operation in flight")
	return nil
}

// checkAligned panics unless buf, offset and the length follow the O_DIRECT
// rules and the access lies inside a storage of size bytes.
func checkAligned(buf []byte, offset, size uint64) {
	if len(buf) == 0 || len(buf)%SectorSize != 0 || offset%SectorSize != 0 {
		invariants.Failf("journal: unaligned storage access: %d bytes at %d", len(buf), offset)
	}
	invariants.Assert(uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%SectorSize == 0, "journal: storage buffer not sector-aligned in memory")
	if offset+uint64(len(buf)) > size || offset+uint64(len(buf)) < offset {
		invariants.Failf("journal: storage access %d bytes at %d beyond size %d", len(buf), offset, size)
	}
}
