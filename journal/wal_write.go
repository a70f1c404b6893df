package journal

import (
	"fmt"

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
		panic(fmt.Sprintf("journal: unknown header mode %d", m))
	}
	if m == HeaderOrdered {
		if err := j.Flush(); err != nil {
			return err
		}
	}
	j.headerMode = m
	return nil
}

// WritePrepare writes one prepare; see WritePrepares.
func (j *Journal) WritePrepare(msg []byte) error { return j.WritePrepares(msg) }

// WritePrepares writes sealed prepares to their slots and their redundant
// headers to the headers ring as the HeaderMode says, and returns once the
// prepares are durable (only then may the replica send prepare_ok). A batch
// (the pipeline's prepares written in one loop turn) shares its syncs and
// header sectors. Bytes of other slots in a header sector are rewritten
// unchanged, so a torn sector write can only damage entries that changed.
//
// Each msg holds a sealed prepare (len(msg) ≥ its size), starts
// sector-aligned, and its capacity reaches the size rounded up to
// SectorSize (a pooled wire.Message buffer does); the bytes after the size
// are written as they are. Every op must be above the checkpoint and within
// slot_count of it (so no op the checkpoint does not cover is overwritten),
// and no two prepares of a batch may share a slot. Violations panic: they
// are caller bugs.
func (j *Journal) WritePrepares(msgs ...[]byte) error {
	j.checkWritable()
	if len(msgs) == 0 {
		return nil
	}
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
	for i, msg := range msgs {
		h := &j.batch[i]
		n := sectorRound(uint64(h.Size))
		if err := j.io.write(msg[:n], j.layout.PrepareOffset(j.layout.SlotOf(h.Op))); err != nil {
			return err
		}
	}
	if j.headerMode == HeaderDeferred {
		if err := j.writePendingHeaders(); err != nil {
			return err
		}
	}
	if err := j.io.sync(); err != nil {
		return err
	}
	j.pending = append(j.pending, j.batch...)
	if j.headerMode == HeaderOrdered {
		if err := j.Flush(); err != nil {
			return err
		}
	}
	for i := range j.batch {
		h := &j.batch[i]
		slot := j.layout.SlotOf(h.Op)
		j.trusted[slot] = *h
		j.report.Slots[slot] = SlotReport{Slot: slot, Header: HeaderPrepare, Prepare: PreparePrepare, Class: ClassOK,
			Decision: DecisionEql, Known: true, Op: h.Op, View: h.View, Checksum: h.Checksum}
	}
	return nil
}

// checkPrepare decodes and checks one prepare handed to WritePrepares and
// marks its slot in batchSlots; it panics on a caller bug.
func (j *Journal) checkPrepare(msg []byte) wire.Header {
	var h wire.Header
	if err := wire.DecodeHeader(msg, &h, &j.wcfg); err != nil || h.Command != wire.CommandPrepare {
		panic(fmt.Sprintf("journal: WritePrepare of an invalid prepare: %v", err))
	}
	if int(h.Size) > len(msg) || wire.VerifyBody(&h, msg[wire.HeaderSize:h.Size]) != nil {
		panic("journal: WritePrepare: body does not match header")
	}
	cp := j.sb.VSR.CheckpointOp
	if h.Op <= cp || h.Op > cp+uint64(j.layout.Config.SlotCount) {
		panic(fmt.Sprintf("journal: WritePrepare of op %d outside (checkpoint %d, +%d]", h.Op, cp, j.layout.Config.SlotCount))
	}
	if n := sectorRound(uint64(h.Size)); uint64(cap(msg)) < n {
		panic(fmt.Sprintf("journal: WritePrepare: buffer capacity %d below the sector-rounded size %d", cap(msg), n))
	}
	slot := j.layout.SlotOf(h.Op)
	if j.batchSlots[slot] {
		panic(fmt.Sprintf("journal: WritePrepares: two prepares for slot %d", slot))
	}
	j.batchSlots[slot] = true
	return h
}

// writePendingHeaders copies the pending redundant headers (whose prepares
// are durable) into the ring and writes each changed sector once; the
// caller syncs.
func (j *Journal) writePendingHeaders() error {
	clear(j.dirtySectors)
	for i := range j.pending {
		at := j.layout.SlotOf(j.pending[i].Op) * wire.HeaderSize
		j.pending[i].Encode(j.headers[at : at+wire.HeaderSize])
		j.dirtySectors[at/SectorSize] = true
	}
	j.pending = j.pending[:0]
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

// Flush writes the pending redundant headers (HeaderDeferred) and syncs. The
// replica calls it when idle; until then a crash recovers those slots from
// the prepares alone (recovery case fix).
func (j *Journal) Flush() error {
	j.checkWritable()
	if len(j.pending) == 0 {
		return nil
	}
	if err := j.writePendingHeaders(); err != nil {
		return err
	}
	return j.io.sync()
}
