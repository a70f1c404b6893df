package persist

import (
	"fmt"
	"slices"
	"time"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Adapter adapts journal.Journal to replica.Journal, the replica's I/O
// while it runs (recover.go reads what it restarts from).
//
// Prepare writes are asynchronous: WritePrepare queues the prepare, Submit
// hands every queued prepare to the journal as one batch when none is in
// flight, and the batch's completion submits the next. The journal runs in
// HeaderDeferred mode: a batch writes its prepares together with the
// redundant headers of the batch before it, then syncs once. A prepare is
// reported written (and the replica may acknowledge it) only when it and
// its redundant header are durable: at the end of the next batch, or of
// the header flush the adapter submits when no batch follows. Under load
// that costs one sync per batch; an idle replica pays a second one.
//
// The replica hears of completions only from Deliver, never from inside
// its own call. The other operations (checkpoint, superblock updates,
// truncation, reads) are synchronous: each first waits until every queued
// prepare is written and its header durable (drain), so they see the
// journal in the order the replica asked.
type Adapter struct {
	j *journal.Journal
	// queued holds the prepares written by the replica and not yet
	// submitted, in order; inflight those of the batch in flight, whose
	// bytes are in batch; durable those whose prepares are durable and
	// whose redundant headers are being (or about to be) written.
	queued   []*wire.Message
	inflight []*wire.Message
	durable  []*wire.Message
	batch    [][]byte
	onBatch  func(error)
	onFlush  func(error)
	flushing bool     // a SubmitFlush is in flight
	slots    []uint32 // the batch's slots (the journal refuses two per slot)
	closed   bool
	// draining is set while a synchronous operation waits for the
	// prepares (drain); a failed write then reports its error in failed
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
	// Stable, when set, is the state machine's stable source
	// (journal.StableSource): the adapter writes ahead one full block of
	// its stable bytes at a time between checkpoints
	// (journal.SubmitPrewrite: asynchronous, beside the WAL's writes), so
	// a checkpoint writes little.
	Stable journal.StableSource
	// onPrewritten is the prewrites' completion (allocated once).
	onPrewritten func(error)
	// Clock, when set, times checkpoints (CheckpointLast, CheckpointMax
	// and Counters.CheckpointMicros); the simulator leaves it nil.
	Clock func() time.Time
	// CheckpointLast and CheckpointMax are the journal time of the last
	// and of the longest checkpoint (writing the blocks that changed, the
	// sync and the superblock; not building the snapshot).
	CheckpointLast, CheckpointMax time.Duration
}

// WALCounters count an Adapter's prepare writes and checkpoints.
type WALCounters struct {
	Batches         uint64 // prepare batches submitted (one sync each)
	PreparesWritten uint64 // prepares in those batches
	HeaderFlushes   uint64 // header-only writes (one sync each): no batch followed
	Drains          uint64 // synchronous operations that waited for prepare writes

	Checkpoints             uint64 // checkpoints written (taken or synced)
	CheckpointBlocksWritten uint64 // grid blocks they wrote (data, index, free set)
	CheckpointBlocksShared  uint64 // data blocks they referenced again unchanged
	CheckpointBytesWritten  uint64 // bytes of the blocks written
	CheckpointScrubbedBad   uint64 // shared blocks the scrubber found damaged (written again)
	CheckpointPrewritten    uint64 // blocks written ahead between checkpoints (in the blocks written)
	CheckpointPrewriteUsed  uint64 // prewritten blocks checkpoints took
	CheckpointMicros        uint64 // journal time of checkpoints (with Clock)
}

type readResult struct {
	msg   *wire.Message
	found bool
}

// NewAdapter wraps j, which it switches to journal.HeaderDeferred; queue
// bounds the completions held between deliveries (more allocate).
func NewAdapter(j *journal.Journal, queue int) (*Adapter, error) {
	// The replica passes a state machine's segment ends to the journal as
	// they are.
	invariants.Assert(statemachine.SegmentsMax == journal.SegmentsMax, "persist: segment bounds of the state machine and the journal differ")
	if err := j.SetHeaderMode(journal.HeaderDeferred); err != nil {
		return nil, fmt.Errorf("persist: %w", err)
	}
	w := &Adapter{
		j:            j,
		queued:       make([]*wire.Message, 0, queue),
		inflight:     make([]*wire.Message, 0, queue),
		durable:      make([]*wire.Message, 0, queue),
		batch:        make([][]byte, 0, queue),
		slots:        make([]uint32, 0, queue),
		written:      make([]*wire.Message, 0, queue),
		read:         make([]readResult, 0, queue),
		spareWritten: make([]*wire.Message, 0, queue),
		spareRead:    make([]readResult, 0, queue),
	}
	w.onBatch, w.onFlush = w.batchDone, w.flushDone
	return w, nil
}

// WritePrepare implements replica.Journal: the prepare is queued; Submit
// (or the end of the write in flight) writes it.
func (w *Adapter) WritePrepare(m *wire.Message) {
	invariants.Assert(!w.closed, "persist: prepare written after Close")
	// The replica bounds its writes in flight (Limits.JournalWritesMax), and
	// NewAdapter's queue is sized above it: no append here allocates.
	invariants.Assert(len(w.queued)+len(w.inflight)+len(w.durable) < cap(w.queued), "persist: more prepare writes in flight than the adapter was sized for")
	w.queued = append(w.queued, m.Ref())
}

// writing reports whether a batch or a header flush is in flight.
func (w *Adapter) writing() bool { return len(w.inflight) > 0 || w.flushing }

// Submit starts writing the queued prepares as one batch, unless a write
// is in flight (its completion submits the next). Call it after the
// replica ran, before waiting for I/O.
func (w *Adapter) Submit() {
	if w.closed {
		return
	}
	w.prewrite()
	if w.writing() || len(w.queued) == 0 {
		return
	}
	invariants.Assert(!w.j.Appending(), "persist: a write in flight the adapter does not hold")
	if w.rewritesDurable() {
		// The journal would drop the durable prepare's pending header
		// and overwrite it: it could never be reported durable. Its
		// header goes first, then the batch.
		w.flush()
		return
	}
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

// fail handles a failed write: a panic (crash-only: a replica that cannot
// write its WAL must stop, and recovers from the data file when
// restarted), or, while a synchronous operation drains, the error it
// returns. It reports whether the adapter is closed.
func (w *Adapter) fail(err error, prepares int) bool {
	if err != nil && !w.closed {
		err = fmt.Errorf("persist: WAL write of %d prepares (0: redundant headers): %w", prepares, err)
		if !w.draining {
			panic(err)
		}
		w.failed, w.closed = err, true
	}
	if w.closed {
		unrefAll(w.inflight)
		unrefAll(w.durable)
		w.inflight, w.durable = w.inflight[:0], w.durable[:0]
	}
	return w.closed
}

func unrefAll(ms []*wire.Message) {
	for _, m := range ms {
		m.Unref()
	}
	clear(ms)
}

// batchDone is the journal's callback for the batch in flight: its
// prepares are durable, and so are the headers of the batch before
// (written with it). Those are reported; the batch's own wait for the
// next write, which starts now: the next batch, or a header flush.
func (w *Adapter) batchDone(err error) {
	invariants.Assert(len(w.inflight) > 0 && len(w.inflight) == len(w.batch), "persist: batch completion without a batch")
	invariants.Assert(!w.flushing, "persist: batch completed during a header flush")
	clear(w.batch)
	w.batch = w.batch[:0]
	if w.fail(err, len(w.inflight)) {
		return
	}
	w.written = append(w.written, w.durable...)
	clear(w.durable)
	w.durable = append(w.durable[:0], w.inflight...)
	clear(w.inflight)
	w.inflight = w.inflight[:0]
	w.next()
}

// flushDone is the journal's callback for a header flush: the durable
// prepares' headers are durable too.
func (w *Adapter) flushDone(err error) {
	invariants.Assert(w.flushing && len(w.inflight) == 0, "persist: header flush completion without a flush")
	w.flushing = false
	if w.fail(err, 0) {
		return
	}
	w.written = append(w.written, w.durable...)
	clear(w.durable)
	w.durable = w.durable[:0]
	w.next()
}

// next starts the next write: a batch of the queued prepares, else the
// headers of the durable ones.
func (w *Adapter) next() {
	invariants.Assert(!w.writing() && !w.j.Appending(), "persist: next write while one is in flight")
	w.prewrite()
	w.start()
}

// start starts the next write (see next).
func (w *Adapter) start() {
	invariants.Assert(!w.writing() && !w.j.Appending(), "persist: write started while one is in flight")
	if len(w.queued) > 0 {
		w.Submit()
		return
	}
	if len(w.durable) > 0 || w.j.HeadersPending() {
		w.flush()
	}
}

// prewrite starts writing one block ahead when the stable source has a
// full block the journal has not written ahead and none is in flight.
func (w *Adapter) prewrite() {
	if w.Stable == nil || w.closed || !w.j.PrewriteDue(w.Stable) {
		return
	}
	if w.onPrewritten == nil {
		w.onPrewritten = w.prewritten
	}
	started := w.j.SubmitPrewrite(w.Stable, w.onPrewritten)
	invariants.Assert(started && w.j.PrewriteInFlight(), "persist: a prewrite due did not start")
}

// prewritten completes a block written ahead. A failed write is the disk
// failing: crash-only, like a failed checkpoint. While a synchronous step
// waits (a drain, a checkpoint or a superblock write), that step fails
// with it instead (the journal returns it from AwaitPrewrite, which every
// checkpoint and superblock write calls).
func (w *Adapter) prewritten(err error) {
	if err != nil && !w.closed && !w.draining && !w.j.AwaitingPrewrite() {
		panic(fmt.Sprintf("persist: writing a checkpoint block ahead failed: %v", err))
	}
}

// flush starts writing the pending redundant headers.
func (w *Adapter) flush() {
	invariants.Assert(w.j.HeadersPending() && !w.writing(), "persist: header flush without pending headers, or during a write")
	w.flushing = true
	w.Counters.HeaderFlushes++
	w.j.SubmitFlush(w.onFlush)
}

// rewritesDurable reports whether the next batch would write a slot that
// holds a durable prepare whose header is not written yet.
func (w *Adapter) rewritesDurable() bool {
	if len(w.durable) == 0 {
		return false
	}
	layout := w.j.Layout()
	w.slots = w.slots[:0]
	for _, m := range w.durable {
		var h wire.Header
		h.Decode(m.Buffer[:wire.HeaderSize])
		w.slots = append(w.slots, layout.SlotOf(h.Op))
	}
	durable := len(w.slots)
	for _, m := range w.queued {
		var h wire.Header
		h.Decode(m.Buffer[:wire.HeaderSize])
		slot := layout.SlotOf(h.Op)
		if slices.Contains(w.slots[:durable], slot) {
			return true
		}
		if slices.Contains(w.slots[durable:], slot) {
			return false // the batch ends before this prepare
		}
		w.slots = append(w.slots, slot)
	}
	return false
}

// Busy reports whether prepares are queued or being written, or wait for
// their redundant headers.
func (w *Adapter) Busy() bool {
	return len(w.queued) > 0 || w.writing() || len(w.durable) > 0
}

// drain writes every queued prepare and its redundant header and waits
// until they are durable, so a synchronous operation sees the journal as
// the replica asked for it. It returns the error of a failed write (the
// adapter is then closed).
func (w *Adapter) drain() error {
	if w.Busy() {
		w.Counters.Drains++
	}
	bound := len(w.queued) + 2
	w.draining = true
	for i := 0; w.Busy() && !w.closed; i++ {
		invariants.Assert(i <= bound, "persist: prepare queue does not drain")
		if !w.writing() {
			w.start()
		}
		w.j.AwaitPrepares()
	}
	w.draining = false
	if w.closed && w.j.Appending() {
		w.j.AwaitPrepares() // closed meanwhile: the last write completes unreported
	}
	return w.failed
}

// Close stops writing: the write in flight, if any, completes without
// being reported, and queued prepares are dropped. Call it before the
// loop's IO closes (which cancels what is in flight).
func (w *Adapter) Close() {
	w.closed = true
	unrefAll(w.queued)
	unrefAll(w.durable)
	w.queued, w.durable = w.queued[:0], w.durable[:0]
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
	if err := w.j.AwaitPrewrite(); err != nil {
		return err
	}
	var start time.Time
	if w.Clock != nil {
		start = w.Clock()
	}
	err := w.j.Checkpoint(op, checksum, journal.CheckpointData{State: b.State, StateSegments: b.StateSegments,
		StableSegment: b.StableSegment, StableSize: b.StableSize, StableOmitted: b.StableOmitted,
		StableSkipped: b.StableSkipped, Sessions: b.Sessions})
	if err != nil {
		return err
	}
	st := w.j.CheckpointStats()
	c := &w.Counters
	c.Checkpoints++
	c.CheckpointBlocksWritten, c.CheckpointBlocksShared = st.Written, st.Shared
	c.CheckpointBytesWritten, c.CheckpointScrubbedBad = st.BytesWritten, st.ScrubbedBad
	c.CheckpointPrewritten, c.CheckpointPrewriteUsed = st.Prewritten, st.PrewriteUsed
	if w.Clock != nil {
		d := w.Clock().Sub(start)
		w.CheckpointLast, w.CheckpointMax = d, max(w.CheckpointMax, d)
		c.CheckpointMicros += uint64(d.Microseconds())
	}
	return nil
}

// StableCovered implements replica.StableCoverage.
func (w *Adapter) StableCovered(seg, size int) int { return w.j.StableCovered(seg, size) }

var _ replica.StableCoverage = (*Adapter)(nil)

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

// Flush starts writing the redundant headers the journal holds back when
// nothing is being written (after recovery, or a synchronous operation);
// the adapter flushes after its own batches by itself. Call it when the
// loop is idle.
func (w *Adapter) Flush() {
	if w.closed || w.Busy() || !w.j.HeadersPending() {
		return
	}
	w.next()
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
