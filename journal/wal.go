package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// recoverWAL reads both rings, classifies every slot, builds the report and
// (unless read-only) writes back the redundant headers it fixed.
func (j *Journal) recoverWAL() error {
	c := j.layout.Config
	if err := j.io.read(j.headers, j.layout.WALHeaders.Offset); err != nil {
		return err
	}
	slots := make([]SlotReport, c.SlotCount)
	dirty := make([]bool, j.layout.WALHeaders.Size/SectorSize)
	var hh, ph wire.Header
	for slot := uint32(0); slot < c.SlotCount; slot++ {
		raw := j.headers[slot*wire.HeaderSize : (slot+1)*wire.HeaderSize]
		hs := ClassifyHeader(raw, slot, c.SlotCount, &j.wcfg, &hh)
		ps, err := j.readPrepareSlot(slot, &ph)
		if err != nil {
			return err
		}
		class, decision := ClassifySlot(hs, &hh, ps, &ph)
		s := SlotReport{Slot: slot, Header: hs, Prepare: ps, Class: class, Decision: decision}
		switch decision {
		case DecisionEql, DecisionFix:
			j.trusted[slot] = ph
		case DecisionVSR:
			j.trusted[slot] = hh
		}
		if decision == DecisionEql || decision == DecisionFix || decision == DecisionVSR {
			t := &j.trusted[slot]
			s.Known, s.Op, s.View, s.Checksum = true, t.Op, t.View, t.Checksum
		}
		switch decision {
		case DecisionFix:
			ph.Encode(raw)
			dirty[slot*wire.HeaderSize/SectorSize] = true
		case DecisionNil:
			if hs != HeaderReserved {
				r := reservedHeader(j.sb.Cluster, slot)
				r.Encode(raw)
				dirty[slot*wire.HeaderSize/SectorSize] = true
			}
		}
		slots[slot] = s
	}
	report, err := buildReport(slots, j.trusted, j.sb.VSR.CheckpointOp, j.sb.VSR.CheckpointChecksum)
	if err != nil {
		return err
	}
	j.report = report
	if j.readOnly {
		return nil
	}
	wrote := false
	for i, d := range dirty {
		if d {
			off := uint64(i) * SectorSize
			if err := j.io.write(j.headers[off:off+SectorSize], j.layout.WALHeaders.Offset+off); err != nil {
				return err
			}
			wrote = true
		}
	}
	if wrote {
		return j.io.sync()
	}
	return nil
}

// readPrepareSlot reads slot's prepare into j.prepareBuf (only as many
// sectors as its header announces) and classifies it.
func (j *Journal) readPrepareSlot(slot uint32, h *wire.Header) (PrepareState, error) {
	off := j.layout.PrepareOffset(slot)
	if err := j.io.read(j.prepareBuf[:SectorSize], off); err != nil {
		return PrepareCorrupt, err
	}
	n := uint64(SectorSize)
	var probe wire.Header
	if st := ClassifyHeader(j.prepareBuf, slot, j.layout.Config.SlotCount, &j.wcfg, &probe); st == HeaderPrepare || st == HeaderMisdirected {
		// Validate bounded Size by message_size_max, so n fits prepareBuf.
		n = sectorRound(uint64(probe.Size))
		if n > SectorSize {
			if err := j.io.read(j.prepareBuf[SectorSize:n], off+SectorSize); err != nil {
				return PrepareCorrupt, err
			}
		}
	}
	return ClassifyPrepare(j.prepareBuf[:n], slot, j.layout.Config.SlotCount, &j.wcfg, h), nil
}

// HeaderMode says when WritePrepare writes a prepare's redundant header.
// Both modes write a redundant header only after its prepare is durable,
// which is what the recovery table relies on; they differ in cost and in
// what protects the newest prepare.
type HeaderMode uint8

const (
	// HeaderOrdered (the default): write the prepare, sync, write its
	// header sector, sync; WritePrepare returns with both durable. Two syncs
	// per prepare; every acknowledged prepare has its redundant header, so
	// a later lost or corrupted prepare write is always detected (vsr).
	HeaderOrdered HeaderMode = iota
	// HeaderDeferred: write the prepare together with the previous
	// prepare's header sector, one sync. The newest prepare's header
	// follows with the next WritePrepare or Flush, so until then a lost
	// (misdirected) or rotten write of that one prepare is not detectable
	// locally. One sync per prepare.
	HeaderDeferred
)

// SetHeaderMode switches the header mode; leaving HeaderDeferred flushes
// the pending header first.
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

// WritePrepare writes a sealed prepare to its slot and its redundant header
// to the headers ring as HeaderMode says, and returns once the prepare is
// durable (only then may the replica send prepare_ok). Bytes of other slots
// in the header's sector are rewritten unchanged, so a torn sector write
// can only damage the entry that changed.
//
// msg holds the sealed prepare (len(msg) ≥ its size), starts sector-aligned,
// and its capacity reaches the size rounded up to SectorSize (a pooled
// wire.Message buffer does); the bytes after the size are written as they
// are. The op must be above the checkpoint and within slot_count of it (so
// no op the checkpoint does not cover is overwritten). Violations panic:
// they are caller bugs.
func (j *Journal) WritePrepare(msg []byte) error {
	j.checkWritable()
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
	slot := j.layout.SlotOf(h.Op)
	n := sectorRound(uint64(h.Size))
	if uint64(cap(msg)) < n {
		panic(fmt.Sprintf("journal: WritePrepare: buffer capacity %d below the sector-rounded size %d", cap(msg), n))
	}
	if j.pending && j.pendingHeader.Op%uint64(j.layout.Config.SlotCount) == uint64(slot) {
		// This prepare replaces the pending one in the same slot: its
		// header must never reach the ring.
		j.pending = false
	}
	if err := j.io.write(msg[:n], j.layout.PrepareOffset(slot)); err != nil {
		return err
	}
	if err := j.writePendingHeader(); err != nil {
		return err
	}
	if err := j.io.sync(); err != nil {
		return err
	}
	j.pending, j.pendingHeader = true, h
	if j.headerMode == HeaderOrdered {
		if err := j.Flush(); err != nil {
			return err
		}
	}
	j.trusted[slot] = h
	rs := &j.report.Slots[slot]
	*rs = SlotReport{Slot: slot, Header: HeaderPrepare, Prepare: PreparePrepare, Class: ClassOK, Decision: DecisionEql,
		Known: true, Op: h.Op, View: h.View, Checksum: h.Checksum}
	return nil
}

// writePendingHeader copies the pending redundant header (whose prepare is
// durable) into the ring and writes its sector; the caller syncs.
func (j *Journal) writePendingHeader() error {
	if !j.pending {
		return nil
	}
	slot := j.layout.SlotOf(j.pendingHeader.Op)
	at := slot * wire.HeaderSize
	j.pendingHeader.Encode(j.headers[at : at+wire.HeaderSize])
	j.pending = false
	sector := uint64(at) / SectorSize * SectorSize
	return j.io.write(j.headers[sector:sector+SectorSize], j.layout.HeaderSectorOffset(slot))
}

// Flush writes the pending redundant header (HeaderDeferred) and syncs. The
// replica calls it when idle; until then a crash recovers that slot from
// the prepare alone (recovery case fix).
func (j *Journal) Flush() error {
	j.checkWritable()
	if !j.pending {
		return nil
	}
	if err := j.writePendingHeader(); err != nil {
		return err
	}
	return j.io.sync()
}

// Header returns the trusted header of op, if the journal holds one (the
// prepare itself may still need repair: see Report).
func (j *Journal) Header(op uint64) (wire.Header, bool) {
	slot := j.layout.SlotOf(op)
	if s := &j.report.Slots[slot]; s.Known && s.Op == op {
		return j.trusted[slot], true
	}
	return wire.Header{}, false
}

// ReadPrepare reads op's prepare and verifies it against checksum. The
// returned message aliases an internal buffer, valid until the next
// ReadPrepare. Errors wrap ErrNotFound (the slot holds another op) or
// ErrCorrupt.
func (j *Journal) ReadPrepare(op uint64, checksum wire.Uint128) ([]byte, error) {
	slot := j.layout.SlotOf(op)
	var h wire.Header
	st, err := j.readPrepareSlot(slot, &h)
	if err != nil {
		return nil, err
	}
	switch {
	case st == PrepareReserved:
		return nil, fmt.Errorf("%w: op %d (slot %d is reserved)", ErrNotFound, op, slot)
	case st != PreparePrepare:
		return nil, fmt.Errorf("%w: op %d: slot %d prepare is %s", ErrCorrupt, op, slot, st)
	case h.Op != op:
		return nil, fmt.Errorf("%w: op %d (slot %d holds op %d)", ErrNotFound, op, slot, h.Op)
	case h.Checksum != checksum:
		return nil, fmt.Errorf("%w: op %d has checksum %s, want %s", ErrNotFound, op, h.Checksum, checksum)
	}
	return j.prepareBuf[:h.Size], nil
}
