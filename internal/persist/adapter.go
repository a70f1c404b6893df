package persist

import (
	"fmt"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// Adapter adapts journal.Journal to replica.Journal, the replica's I/O
// while it runs (recover.go reads what it restarts from). The journal's
// writes are synchronous (they return when the prepare is durable); the
// adapter queues the completion so the replica hears of it on the next
// loop turn, never from inside its own call.
type Adapter struct {
	j       *journal.Journal
	written []*wire.Message
	read    []readResult
	// spare* are the other halves of double buffers, so delivering
	// completions never allocates.
	spareWritten []*wire.Message
	spareRead    []readResult
}

type readResult struct {
	msg   *wire.Message
	found bool
}

// NewAdapter wraps j; queue bounds the completions held between deliveries.
func NewAdapter(j *journal.Journal, queue int) *Adapter {
	return &Adapter{
		j:            j,
		written:      make([]*wire.Message, 0, queue),
		read:         make([]readResult, 0, queue),
		spareWritten: make([]*wire.Message, 0, queue),
		spareRead:    make([]readResult, 0, queue),
	}
}

// WritePrepare implements replica.Journal.
func (w *Adapter) WritePrepare(m *wire.Message) {
	var h wire.Header
	h.Decode(m.Buffer[:wire.HeaderSize])
	if err := w.j.WritePrepare(m.Bytes(h.Size)); err != nil {
		// Crash-only: a replica that cannot write its WAL must stop; it
		// recovers from the data file when restarted.
		panic(fmt.Sprintf("node: WAL write of op %d failed: %v", h.Op, err))
	}
	w.written = append(w.written, m.Ref())
}

// ReadPrepare implements replica.Journal.
func (w *Adapter) ReadPrepare(op uint64, m *wire.Message) {
	found := false
	if h, ok := w.j.Header(op); ok {
		if data, err := w.j.ReadPrepare(op, h.Checksum); err == nil {
			copy(m.Buffer, data)
			found = true
		}
	}
	w.read = append(w.read, readResult{msg: m.Ref(), found: found})
}

// Checkpoint implements replica.Journal.
func (w *Adapter) Checkpoint(op uint64, checksum wire.Uint128, b replica.CheckpointBlobs) error {
	return w.j.Checkpoint(op, checksum, journal.CheckpointData{State: b.State, Sessions: b.Sessions})
}

// Completions is the part of the replica the Adapter reports to.
type Completions interface {
	OnPrepareWritten(m *wire.Message)
	OnPrepareRead(m *wire.Message, found bool)
}

// Deliver reports finished operations to r; it returns whether there were
// any. Completions may start new operations; those are delivered in the
// same call. Call it from the event loop after the replica ran.
func (w *Adapter) Deliver(r Completions) bool {
	any := false
	for len(w.written) > 0 || len(w.read) > 0 {
		any = true
		written, read := w.written, w.read
		w.written, w.read = w.spareWritten[:0], w.spareRead[:0]
		for _, m := range written {
			r.OnPrepareWritten(m)
			m.Unref()
		}
		for _, rr := range read {
			r.OnPrepareRead(rr.msg, rr.found)
			rr.msg.Unref()
		}
		clear(written)
		clear(read)
		w.spareWritten, w.spareRead = written[:0], read[:0]
	}
	return any
}

// PersistView implements replica.Journal: the superblock records view,
// log_view, the log head and its anchor, and the commit numbers (never
// moving any of them back).
func (w *Adapter) PersistView(view, logView uint32, logOp uint64, anchor wire.Uint128, commitMin, commitMax uint64) error {
	sb := w.j.Superblock().VSR
	return w.j.SetVSRLog(max(sb.View, view), max(sb.LogView, logView), logOp, anchor, max(sb.CommitMin, commitMin), max(sb.CommitMax, commitMax))
}

// Truncate implements replica.Journal.
func (w *Adapter) Truncate(afterOp uint64) error { return w.j.Truncate(afterOp) }

// PersistRejoined implements replica.Journal: the superblock stops marking
// the data file as rejoining.
func (w *Adapter) PersistRejoined() error { return w.j.SetRejoined() }

// VSRState is what RecordVSR reads from the replica.
type VSRState interface {
	View() uint32
	LogView() uint32
	CommitMin() uint64
	CommitMax() uint64
}

// RecordVSR writes the replica's view and commit numbers to the superblock
// when commit_max moved since the last call, so a restart knows which
// journaled ops are committed. It costs a superblock write (four copies,
// each synced): call it every few ticks and at shutdown, not per op.
func (w *Adapter) RecordVSR(r VSRState) error {
	commitMax := r.CommitMax()
	sb := w.j.Superblock()
	if commitMax <= sb.VSR.CommitMax {
		return nil
	}
	return w.j.SetVSR(max(sb.VSR.View, r.View()), max(sb.VSR.LogView, r.LogView()), max(sb.VSR.CommitMin, r.CommitMin()), commitMax)
}
