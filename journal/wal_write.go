package journal

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// HeaderMode says when prepares' redundant headers are written. Both modes
// write a redundant header only after its prepare is durable, which is what
// the recovery table relies on; they differ in cost and in what protects
// the newest prepares.
type HeaderMode uint8

const (
	// HeaderOrdered (the default): write the prepares, sync, write their
	// header sectors, sync; WritePrepares returns with all durable. Two
	// syncs per call; every acknowledged prepare has its redundant header,
	// so a later lost or corrupted prepare write is always detected (vsr).
	HeaderOrdered HeaderMode = iota
	// HeaderDeferred: write the prepares together with the header sectors
	// of the previous call's prepares, one sync. The newest prepares'
	// headers follow with the next call or Flush, so until then a lost
	// (misdirected) or rotten write of those prepares is not detectable
	// locally. One sync per call.
	HeaderDeferred
)

// SetHeaderMode switches the header mode; leaving HeaderDeferred flushes
// the pending headers first.
func (j *Journal) SetHeaderMode(m HeaderMode) error {
	if m != HeaderOrdered && m != HeaderDeferred {
		invariants.Failf("journal: unknown header mode %d", m)
	}
	if m == HeaderOrdered {
		if err := j.Flush(); err != nil {
			return err
		}
		invariants.Assert(len(j.pending) == 0, "journal: ordered mode with pending redundant headers")
	}
	j.headerMode = m
	return nil
}

// WritePrepare writes one prepare; see WritePrepares.
func (j *Journal) WritePrepare(msg []byte) error {
	invariants.Assert(msg != nil, "journal: WritePrepare of no message")
	return j.WritePrepares(msg)
}

// WritePrepares writes sealed prepares to their slots and their redundant
// headers to the headers ring as the HeaderMode says, and returns once the
// prepares are durable (only then may the replica send prepare_ok). It is
// SubmitPrepares followed by ticking the storage until the callback ran;
// see SubmitPrepares for the rules on msgs.
func (j *Journal) WritePrepares(msgs ...[]byte) error {
	if len(msgs) == 0 {
		j.checkWritable()
		return nil
	}
	j.waitDone = false
	j.SubmitPrepares(msgs, j.waitCB)
	j.AwaitPrepares()
	invariants.Assert(j.waitDone, "journal: prepare write ended without its callback")
	return j.waitErr
}

// HeadersPending reports whether redundant headers wait for the next batch
// or Flush (HeaderDeferred).
func (j *Journal) HeadersPending() bool { return len(j.pending) > 0 }

// Appending reports whether a SubmitPrepares is in flight.
func (j *Journal) Appending() bool { return j.append.active }

// AwaitPrepares ticks the storage until the SubmitPrepares in flight, if
// any, has run its callback (which may start the next one: AwaitPrepares
// returns when none is in flight). A storage that never completes is a bug
// in the storage (panic).
func (j *Journal) AwaitPrepares() {
	for i := 0; j.append.active; i++ {
		if i == waitTicksMax {
			panic("journal: storage did not complete a prepare write")
		}
		j.storage.Tick()
	}
	invariants.Assert(!j.append.active, "journal: prepare write reported done while in flight")
}

// checkPrepare decodes and checks one prepare handed to WritePrepares and
// marks its slot in batchSlots; it panics on a caller bug.
func (j *Journal) checkPrepare(msg []byte) wire.Header {
	var h wire.Header
	if err := wire.DecodeHeader(msg, &h, &j.wcfg); err != nil || h.Command != wire.CommandPrepare {
		invariants.Failf("journal: WritePrepare of an invalid prepare: %v", err)
	}
	// Paired with recovery: what is written classifies as this slot's
	// prepare when read back (ClassifyPrepare checks the same).
	invariants.Assert(int(h.Size) <= len(msg) && wire.VerifyBody(&h, msg[wire.HeaderSize:h.Size]) == nil, "journal: WritePrepare: body does not match header")
	invariants.Assert(h.Op != 0, "journal: WritePrepare of the root prepare")
	cp := j.sb.VSR.CheckpointOp
	if h.Op <= cp || h.Op > cp+uint64(j.layout.Config.SlotCount) {
		invariants.Failf("journal: WritePrepare of op %d outside (checkpoint %d, +%d]", h.Op, cp, j.layout.Config.SlotCount)
	}
	if n := sectorRound(uint64(h.Size)); uint64(cap(msg)) < n {
		invariants.Failf("journal: WritePrepare: buffer capacity %d below the sector-rounded size %d", cap(msg), n)
	}
	slot := j.layout.SlotOf(h.Op)
	if j.batchSlots[slot] {
		invariants.Failf("journal: WritePrepares: two prepares for slot %d", slot)
	}
	j.batchSlots[slot] = true
	return h
}

// writePendingHeaders copies the pending redundant headers (whose prepares
// are durable) into the ring and writes each changed sector once; the
// caller syncs.
func (j *Journal) writePendingHeaders() error {
	invariants.Assert(!j.append.active, "journal: synchronous header write while SubmitPrepares is in flight")
	j.stagePendingHeaders()
	invariants.Assert(len(j.pending) == 0, "journal: pending headers left after staging")
	for i, d := range j.dirtySectors {
		if !d {
			continue
		}
		off := uint64(i) * SectorSize
		if err := j.io.write(j.headers[off:off+SectorSize], j.layout.WALHeaders.Offset+off); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the pending redundant headers (HeaderDeferred) and syncs
// (synchronously; not while SubmitPrepares is in flight). The
// replica calls it when idle; until then a crash recovers those slots from
// the prepares alone (recovery case fix).
func (j *Journal) Flush() error {
	j.checkWritable()
	invariants.Assert(j.headerMode == HeaderDeferred || len(j.pending) == 0, "journal: headers pending in ordered mode")
	if len(j.pending) == 0 {
		return nil
	}
	if err := j.writePendingHeaders(); err != nil {
		return err
	}
	invariants.Assert(len(j.pending) == 0, "journal: pending headers left after a flush")
	return j.io.sync()
}

// stagePendingHeaders encodes the pending headers into the in-memory ring
// and marks their sectors in dirtySectors.
func (j *Journal) stagePendingHeaders() {
	clear(j.dirtySectors)
	for i := range j.pending {
		p := &j.pending[i]
		slot := j.layout.SlotOf(p.Op)
		// A pending header is that of its slot's durable prepare: trusted
		// already, or of the batch being appended (trusted when it ends).
		inBatch := j.append.active && j.batchSlots[slot]
		invariants.Assert(inBatch || (j.trusted[slot].Checksum == p.Checksum && j.report.Slots[slot].Known), "journal: pending redundant header is not its slot's trusted prepare")
		at := slot * wire.HeaderSize
		invariants.Assert(int(at/SectorSize) < len(j.dirtySectors), "journal: pending header outside the ring")
		p.Encode(j.headers[at : at+wire.HeaderSize])
		if invariants.Enabled {
			// Paired with recovery: the ring entry reads back as this
			// slot's prepare header.
			var got wire.Header
			st := ClassifyHeader(j.headers[at:], slot, j.layout.Config.SlotCount, &j.wcfg, &got)
			invariants.Assert(st == HeaderPrepare && got == *p, "journal: staged redundant header does not classify as its prepare")
		}
		j.dirtySectors[at/SectorSize] = true
	}
	j.pending = j.pending[:0]
}
