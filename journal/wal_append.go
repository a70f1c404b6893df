package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
)

// appendState is the one SubmitPrepares in flight. Its callbacks are bound
// once at open so submitting does not allocate.
type appendState struct {
	active      bool
	flush       bool     // SubmitFlush: header sectors only
	msgs        [][]byte // the caller's buffers, held until the callback
	outstanding int      // writes submitted and not yet completed
	// durable: the stage in flight is a single WriteDurable, so no sync
	// follows it.
	durable bool
	err     error // first error of the current stage
	cb      func(error)

	onWrite, onSync1, onHeaderWrite, onSync2 func(error)
}

func (j *Journal) initAppend() {
	a := &j.append
	invariants.Assert(a.onWrite == nil && !a.active, "journal: append state initialised twice")
	a.msgs = make([][]byte, 0, j.layout.Config.SlotCount)
	a.onWrite = j.appendWritten
	a.onSync1 = j.appendSynced
	a.onHeaderWrite = j.appendHeaderWritten
	a.onSync2 = j.appendFinish
	j.waitCB = func(err error) {
		invariants.Assert(!j.waitDone, "journal: prepare write completed twice")
		j.waitDone, j.waitErr = true, err
	}
	invariants.Assert(cap(j.pending) == int(j.layout.Config.SlotCount) && cap(j.batch) == int(j.layout.Config.SlotCount), "journal: header queues not sized to the ring")
}

// SubmitPrepares starts writing sealed prepares to their slots and their
// redundant headers to the headers ring as the HeaderMode says, and calls
// cb (from the storage's Tick, never inline) once the prepares are durable
// or an error stopped the writes; only then may the replica send
// prepare_ok. A batch (the pipeline's prepares of one loop turn) shares its
// syncs and header sectors. Bytes of other slots in a header sector are
// rewritten unchanged, so a torn sector write can only damage entries that
// changed.
//
// One SubmitPrepares may be in flight at a time, and no other journal
// operation may run meanwhile (both panic). The buffers belong to the
// journal until cb runs. Each msg holds a sealed prepare (len(msg) ≥ its
// size), starts sector-aligned, and its capacity reaches the size rounded
// up to SectorSize (a pooled wire.Message buffer does); the bytes after the
// size are written as they are. Every op must be above the checkpoint and
// within slot_count of it (so no op the checkpoint does not cover is
// overwritten), and no two prepares of a batch may share a slot. Violations
// panic: they are caller bugs.
func (j *Journal) SubmitPrepares(msgs [][]byte, cb func(error)) {
	j.checkWritable()
	invariants.Assert(len(msgs) > 0 && cb != nil, "journal: SubmitPrepares needs prepares and a callback")
	// At most one prepare per slot: the queues hold a ring's worth.
	invariants.Assert(len(msgs) <= cap(j.batch), "journal: SubmitPrepares of more prepares than slots")
	j.batch = j.batch[:0]
	clear(j.batchSlots)
	for _, msg := range msgs {
		j.batch = append(j.batch, j.checkPrepare(msg))
	}
	// A prepare replacing a pending one in the same slot: the pending
	// header must never reach the ring.
	kept := j.pending[:0]
	for _, p := range j.pending {
		if !j.batchSlots[j.layout.SlotOf(p.Op)] {
			kept = append(kept, p)
		}
	}
	j.pending = kept
	// The pending headers and the batch share no slot, so once the batch
	// is durable they still fit the ring-sized queue (no allocation).
	invariants.Assert(len(j.pending)+len(j.batch) <= cap(j.pending), "journal: pending headers and batch overflow the ring")
	a := &j.append
	a.active, a.cb, a.err, a.outstanding = true, cb, nil, 0
	a.msgs = append(a.msgs[:0], msgs...)
	// Deferred mode: the previous batch's headers share this stage.
	sectors := 0
	if j.headerMode == HeaderDeferred {
		sectors = j.stageHeaderSectors()
	}
	a.durable = len(a.msgs)+sectors == 1
	for i, msg := range a.msgs {
		h := &j.batch[i]
		j.stageWrite(msg[:sectorRound(uint64(h.Size))], j.layout.PrepareOffset(j.layout.SlotOf(h.Op)), a.onWrite)
	}
	invariants.Assert(a.outstanding == len(j.batch), "journal: not one write per prepare")
	if j.headerMode == HeaderDeferred {
		j.writeHeaderSectors()
	}
	invariants.Assert(a.outstanding == len(j.batch)+sectors, "journal: not one write per prepare and changed header sector")
}

// stageWrite submits one write of the stage in flight: a WriteDurable
// when it is the stage's only write (no sync follows), else a Write.
func (j *Journal) stageWrite(buf []byte, offset uint64, cb func(error)) {
	a := &j.append
	invariants.Assert(a.active, "journal: stage write outside an append")
	invariants.Assert(!a.durable || a.outstanding == 0, "journal: a durable stage of more than one write")
	a.outstanding++
	if a.durable {
		j.storage.WriteDurable(buf, offset, cb)
		return
	}
	j.storage.Write(buf, offset, cb)
}

// SubmitFlush starts writing the pending redundant headers (HeaderDeferred:
// those of prepares already durable) and a sync, and calls cb (from the
// storage's Tick, never inline) once they are durable or an error stopped
// the writes. It is Flush without waiting: the same rules as
// SubmitPrepares apply (one in flight, no other journal operation
// meanwhile). There must be pending headers (HeadersPending).
func (j *Journal) SubmitFlush(cb func(error)) {
	j.checkWritable()
	invariants.Assert(cb != nil && j.headerMode == HeaderDeferred, "journal: SubmitFlush needs a callback and the deferred header mode")
	invariants.Assert(len(j.pending) > 0, "journal: SubmitFlush with no pending header")
	j.batch = j.batch[:0]
	clear(j.batchSlots)
	a := &j.append
	a.active, a.flush, a.cb, a.err, a.outstanding = true, true, cb, nil, 0
	a.msgs = a.msgs[:0]
	j.submitPendingHeaders()
	invariants.Assert(a.outstanding > 0, "journal: SubmitFlush wrote no header sector")
}

// submitPendingHeaders copies the pending headers (whose prepares are
// durable) into the ring and submits each changed sector once, as a stage
// of its own (durable at once when it is one sector).
func (j *Journal) submitPendingHeaders() {
	invariants.Assert(j.append.active && j.append.outstanding == 0, "journal: header sectors submitted outside an append, or into a stage in flight")
	j.append.durable = j.stageHeaderSectors() == 1
	j.writeHeaderSectors()
}

// stageHeaderSectors copies the pending headers into the ring and returns
// how many sectors changed.
func (j *Journal) stageHeaderSectors() int {
	invariants.Assert(j.append.active, "journal: header sectors staged outside an append")
	j.stagePendingHeaders()
	invariants.Assert(len(j.pending) == 0, "journal: pending headers left after staging")
	n := 0
	for _, d := range j.dirtySectors {
		if d {
			n++
		}
	}
	invariants.Assert(n <= len(j.dirtySectors), "journal: more changed header sectors than the ring holds")
	return n
}

// writeHeaderSectors submits the sectors stageHeaderSectors marked, once
// each, and clears the marks.
func (j *Journal) writeHeaderSectors() {
	invariants.Assert(j.append.active, "journal: header sectors written outside an append")
	before := j.append.outstanding
	for i, d := range j.dirtySectors {
		if d {
			off := uint64(i) * SectorSize
			j.stageWrite(j.headers[off:off+SectorSize], j.layout.WALHeaders.Offset+off, j.append.onHeaderWrite)
		}
	}
	clear(j.dirtySectors)
	invariants.Assert(j.append.outstanding >= before, "journal: header sector writes lost from the stage's count")
}

func (a *appendState) done(err error) bool {
	invariants.Assert(a.active, "journal: append completion with no append in flight")
	if err != nil && a.err == nil {
		a.err = err
	}
	a.outstanding--
	invariants.Assert(a.outstanding >= 0, "journal: append completion without a submission")
	return a.outstanding == 0
}

// appendWritten: prepares (and, deferred, the previous headers) written.
func (j *Journal) appendWritten(err error) {
	invariants.Assert(j.append.active && j.append.outstanding > 0, "journal: prepare write completed with none outstanding")
	invariants.Assert(len(j.append.msgs) == len(j.batch), "journal: append holds another number of buffers than prepares")
	a := &j.append
	if !a.done(err) {
		return
	}
	if a.err != nil {
		j.appendFinish(a.err)
		return
	}
	if a.durable {
		a.durable = false
		j.appendSynced(nil) // a completion callback already: not inline
		return
	}
	j.storage.Sync(a.onSync1)
}

// appendSynced: the prepares are durable; in ordered mode their headers
// go out next, in deferred mode they wait for the next batch.
func (j *Journal) appendSynced(err error) {
	invariants.Assert(j.append.active && j.append.outstanding == 0, "journal: prepares synced with writes outstanding")
	if err != nil {
		j.appendFinish(err)
		return
	}
	invariants.Assert(len(j.pending)+len(j.batch) <= cap(j.pending), "journal: pending headers overflow the ring")
	j.pending = append(j.pending, j.batch...)
	if j.headerMode == HeaderDeferred {
		j.appendFinish(nil)
		return
	}
	j.submitPendingHeaders()
}

// appendHeaderWritten: in ordered mode, the header sectors are written (in
// deferred mode header writes share appendWritten's stage).
func (j *Journal) appendHeaderWritten(err error) {
	invariants.Assert(j.append.active && j.append.outstanding > 0, "journal: header write completed with none outstanding")
	invariants.Assert(j.headerMode == HeaderDeferred || len(j.pending) == 0, "journal: ordered header write with headers still pending")
	a := &j.append
	if j.headerMode == HeaderDeferred {
		j.appendWritten(err)
		return
	}
	if !a.done(err) {
		return
	}
	if a.err != nil {
		j.appendFinish(a.err)
		return
	}
	if a.durable {
		a.durable = false
		j.appendFinish(nil)
		return
	}
	j.storage.Sync(a.onSync2)
}

func (j *Journal) appendFinish(err error) {
	a := &j.append
	invariants.Assert(a.active, "journal: append finished twice")
	if a.flush {
		invariants.Assert(len(j.batch) == 0 && len(a.msgs) == 0, "journal: header flush with prepares")
		if err != nil {
			err = fmt.Errorf("%w: redundant header write: %w", ErrIO, err)
		}
	} else if err == nil {
		invariants.Assert(a.outstanding == 0, "journal: append finished with writes outstanding")
		invariants.Assert(len(j.batch) > 0 && len(j.batch) == len(a.msgs), "journal: append finished without its prepares")
		for i := range j.batch {
			h := &j.batch[i]
			slot := j.layout.SlotOf(h.Op)
			invariants.Assert(h.Op > j.sb.VSR.CheckpointOp, "journal: appended op at or below the checkpoint")
			j.trusted[slot] = *h
			j.report.Slots[slot] = SlotReport{Slot: slot, Header: HeaderPrepare, Prepare: PreparePrepare, Class: ClassOK,
				Decision: DecisionEql, Known: true, Op: h.Op, View: h.View, Checksum: h.Checksum}
		}
	} else {
		err = fmt.Errorf("%w: prepare write: %w", ErrIO, err)
	}
	cb := a.cb
	clear(a.msgs)
	a.active, a.flush, a.durable, a.cb, a.msgs = false, false, false, nil, a.msgs[:0]
	if err == nil {
		j.checkState()
	}
	j.io.completing = true
	cb(err)
	j.io.completing = false
}
