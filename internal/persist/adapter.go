package persist

import (
	"fmt"
	"slices"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// Adapter adapts journal.Journal to replica.Journal, the replica's I/O
// while it runs (recover.go reads what it restarts from).
//
// Prepare writes are asynchronous: WritePrepare queues the prepare, Submit
// hands every queued prepare to the journal as one batch (one sync for the
// batch: group commit) when none is in flight, and the batch's completion
// submits the next. The replica hears that a prepare is durable only from
// Deliver, after the journal's callback ran, never from inside its own
// call. The other operations (checkpoint, superblock updates, truncation,
// reads) are synchronous: each first waits until every queued prepare is
// written, so they see the journal in the order the replica asked.
type Adapter struct {
	j *journal.Journal
	// queued holds the prepares written by the replica and not yet
	// submitted, in order; inflight those of the batch in flight, whose
	// bytes are in batch.
	queued   []*wire.Message
	inflight []*wire.Message
	batch    [][]byte
	onBatch  func(error)
	slots    []uint32 // the batch's slots (the journal refuses two per slot)
	closed   bool
	// draining is set while a synchronous operation waits for the
	// prepares (drain); a failed batch then reports its error in failed
	// instead of panicking, for the operation to return.
	draining bool
	failed   error
	written  []*wire.Message
	read     []readResult
	// spare* are the other halves of double buffers, so delivering
	// completions never allocates.
	spareWritten []*wire.Message
	spareRead    []readResult

	// Counters count the adapter's work; read them on the loop's goroutine.
	Counters WALCounters
}

// WALCounters count an Adapter's prepare writes.
type WALCounters struct {
	Batches         uint64 // batches submitted (one sync each)
	PreparesWritten uint64 // prepares in those batches
	Drains          uint64 // synchronous operations that waited for queued or in-flight prepares
	HeaderFlushes   uint64 // redundant headers written on their own (Flush, loop idle)
}

type readResult struct {
	msg   *wire.Message
	found bool
}

// NewAdapter wraps j; queue bounds the completions held between deliveries
// (more allocate).
func NewAdapter(j *journal.Journal, queue int) *Adapter {
	w := &Adapter{
		j:            j,
		queued:       make([]*wire.Message, 0, queue),
		inflight:     make([]*wire.Message, 0, queue),
		batch:        make([][]byte, 0, queue),
		slots:        make([]uint32, 0, queue),
		written:      make([]*wire.Message, 0, queue),
		read:         make([]readResult, 0, queue),
		spareWritten: make([]*wire.Message, 0, queue),
		spareRead:    make([]readResult, 0, queue),
	}
	w.onBatch = w.batchDone
	return w
}

// WritePrepare implements replica.Journal: the prepare is queued; Submit
// (or the end of the batch in flight) writes it.
func (w *Adapter) WritePrepare(m *wire.Message) {
	invariants.Assert(!w.closed, "persist: prepare written after Close")
	w.queued = append(w.queued, m.Ref())
}

// Submit starts writing the queued prepares as one batch, unless a batch
// is in flight (its completion submits the next). Call it after the
// replica ran, before waiting for I/O.
func (w *Adapter) Submit() {
	if w.closed || len(w.queued) == 0 || len(w.inflight) > 0 {
		return
	}
	invariants.Assert(!w.j.Appending(), "persist: a batch in flight the adapter does not hold")
	layout := w.j.Layout()
	w.slots = w.slots[:0]
	n := 0
	for _, m := range w.queued {
		var h wire.Header
		h.Decode(m.Buffer[:wire.HeaderSize])
		slot := layout.SlotOf(h.Op)
		if slices.Contains(w.slots, slot) {
			break // a rewrite of a slot in this batch goes in the next one
		}
		w.slots = append(w.slots, slot)
		w.batch = append(w.batch, m.Bytes(h.Size))
		w.inflight = append(w.inflight, m)
		n++
	}
	invariants.Assert(n > 0 && len(w.batch) == n, "persist: empty prepare batch")
	rest := copy(w.queued, w.queued[n:])
	clear(w.queued[rest:])
	w.queued = w.queued[:rest]
	w.Counters.Batches++
	w.Counters.PreparesWritten += uint64(n)
	w.j.SubmitPrepares(w.batch, w.onBatch)
}

// batchDone is the journal's callback for the batch in flight: its
// prepares are durable (or the write failed) and the next batch starts.
func (w *Adapter) batchDone(err error) {
	invariants.Assert(len(w.inflight) > 0 && len(w.inflight) == len(w.batch), "persist: batch completion without a batch")
	if err != nil && !w.closed {
		err = fmt.Errorf("persist: WAL write of %d prepares: %w", len(w.inflight), err)
		if !w.draining {
			// Crash-only: a replica that cannot write its WAL must stop;
			// it recovers from the data file when restarted.
			panic(err)
		}
		// The prepares stay unreported; the operation waiting returns
		// the error (and its caller stops the replica).
		w.failed, w.closed = err, true
	}
	if w.closed {
		for _, m := range w.inflight {
			m.Unref()
		}
	} else {
		w.written = append(w.written, w.inflight...)
	}
	clear(w.inflight)
	clear(w.batch)
	w.inflight, w.batch = w.inflight[:0], w.batch[:0]
	w.Submit()
}

// Busy reports whether prepares are queued or being written.
func (w *Adapter) Busy() bool { return len(w.queued) > 0 || len(w.inflight) > 0 }

// drain writes every queued prepare and waits until they are durable, so a
// synchronous operation sees the journal as the replica asked for it. It
// returns the error of a failed prepare write (the adapter is then closed).
func (w *Adapter) drain() error {
	if w.Busy() {
		w.Counters.Drains++
	}
	bound := len(w.queued) + 1
	w.draining = true
	for i := 0; w.Busy() && !w.closed; i++ {
		invariants.Assert(i <= bound, "persist: prepare queue does not drain")
		w.Submit()
		w.j.AwaitPrepares()
	}
	w.draining = false
	if w.closed && w.j.Appending() {
		w.j.AwaitPrepares() // closed meanwhile: the last batch completes unreported
	}
	return w.failed
}

// Close stops writing: the batch in flight, if any, completes without
// being reported, and queued prepares are dropped. Call it before the
// loop's IO closes (which cancels what is in flight).
func (w *Adapter) Close() {
	w.closed = true
	for _, m := range w.queued {
		m.Unref()
	}
	clear(w.queued)
	w.queued = w.queued[:0]
}

// ReadPrepare implements replica.Journal.
func (w *Adapter) ReadPrepare(op uint64, m *wire.Message) {
	if err := w.drain(); err != nil {
		panic(err) // crash-only, as in batchDone
	}
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
	if err := w.drain(); err != nil {
		return err
	}
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
	if err := w.drain(); err != nil {
		return err
	}
	sb := w.j.Superblock().VSR
	return w.j.SetVSRLog(max(sb.View, view), max(sb.LogView, logView), logOp, anchor, max(sb.CommitMin, commitMin), max(sb.CommitMax, commitMax))
}

// Truncate implements replica.Journal.
func (w *Adapter) Truncate(afterOp uint64) error {
	if err := w.drain(); err != nil {
		return err
	}
	return w.j.Truncate(afterOp)
}

// PersistRejoined implements replica.Journal: the superblock stops marking
// the data file as rejoining.
func (w *Adapter) PersistRejoined() error {
	if err := w.drain(); err != nil {
		return err
	}
	return w.j.SetRejoined()
}

// Flush writes the redundant headers the journal holds back
// (journal.HeaderDeferred) when no prepare is queued or being written;
// otherwise they go out with the next batch. Call it when the loop is idle.
func (w *Adapter) Flush() error {
	if w.closed || w.Busy() || !w.j.HeadersPending() {
		return nil
	}
	w.Counters.HeaderFlushes++
	return w.j.Flush()
}

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
	if err := w.drain(); err != nil {
		return err
	}
	return w.j.SetVSR(max(sb.VSR.View, r.View()), max(sb.VSR.LogView, r.LogView()), max(sb.VSR.CommitMin, r.CommitMin()), commitMax)
}
