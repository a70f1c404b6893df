package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// recoverWAL reads both rings, classifies every slot, builds the report
// and (unless read-only) writes back what it can repair locally: redundant
// headers of fix slots, reserved headers of damaged empty slots, and the
// reserved header over the prepares it cut at the head (so the cut is as
// durable as the decision).
func (j *Journal) recoverWAL() error {
	c := j.layout.Config
	invariants.Assert(len(j.headers) == int(c.SlotCount)*wire.HeaderSize && len(j.trusted) == int(c.SlotCount), "journal: WAL buffers not sized to the ring")
	if err := j.io.read(j.headers, j.layout.WALHeaders.Offset); err != nil {
		return err
	}
	slots := make([]SlotReport, c.SlotCount)
	opHeaderMax, misdirectedOpMax := uint64(0), uint64(0)
	var hh, ph wire.Header
	for slot := uint32(0); slot < c.SlotCount; slot++ {
		raw := j.headers[slot*wire.HeaderSize : (slot+1)*wire.HeaderSize]
		hs := ClassifyHeader(raw, slot, c.SlotCount, &j.wcfg, &hh)
		ps, err := j.readPrepareSlot(slot, &ph)
		if err != nil {
			return err
		}
		class, decision := ClassifySlot(hs, &hh, ps, &ph)
		if ps == PrepareMisdirected && ph.Command == wire.CommandPrepare && ph.Op > misdirectedOpMax {
			misdirectedOpMax = ph.Op
		}
		s := SlotReport{Slot: slot, Header: hs, Prepare: ps, Class: class, Decision: decision}
		switch decision {
		case DecisionEql, DecisionFix:
			j.trusted[slot] = ph
		case DecisionVSR:
			j.trusted[slot] = hh
		}
		if decision == DecisionEql || decision == DecisionFix || decision == DecisionVSR {
			t := &j.trusted[slot]
			// The classification only trusts a prepare header of this slot.
			if t.Command != wire.CommandPrepare || j.layout.SlotOf(t.Op) != slot {
				invariants.Failf("journal: slot %d trusts op %d (command %s) of another slot", slot, t.Op, t.Command)
			}
			s.Known, s.Op, s.View, s.Checksum = true, t.Op, t.View, t.Checksum
		}
		if (decision == DecisionEql || decision == DecisionVSR) && hh.Op > opHeaderMax {
			opHeaderMax = hh.Op
		}
		slots[slot] = s
	}
	report, err := buildReport(slots, j.trusted, j.sb.VSR.CheckpointOp, j.sb.VSR.CheckpointChecksum, opHeaderMax)
	if err != nil {
		return err
	}
	if misdirectedOpMax > report.OpCheckpoint {
		report.MisdirectedOpMax = misdirectedOpMax
	}
	for _, op := range report.Truncated {
		invariants.Assert(op > report.OpMax && !report.Slots[j.layout.SlotOf(op)].Known, "journal: a cut op is still trusted")
	}
	// The head rule never cuts an op a valid redundant header names.
	invariants.Assert(report.OpHeaderMax <= report.OpMax, "journal: recovery cut below a redundant header")
	j.report = report
	if j.readOnly {
		return nil
	}
	clear(j.dirtySectors)
	for slot := uint32(0); slot < c.SlotCount; slot++ {
		s := &slots[slot]
		raw := j.headers[slot*wire.HeaderSize : (slot+1)*wire.HeaderSize]
		switch {
		case s.Decision == DecisionFix:
			invariants.Assert(s.Known && j.trusted[slot].Op == s.Op, "journal: redundant header fixed from an untrusted prepare")
			j.trusted[slot].Encode(raw)
		case s.Decision == DecisionNil && s.Header != HeaderReserved:
			r := reservedHeader(j.sb.Cluster, slot)
			r.Encode(raw)
		default:
			continue
		}
		j.dirtySectors[slot*wire.HeaderSize/SectorSize] = true
	}
	if invariants.Enabled {
		// Paired with the next recovery: the ring now says what was
		// decided (fix: the prepare's header; nil: reserved).
		var got wire.Header
		for slot := uint32(0); slot < c.SlotCount; slot++ {
			s := &slots[slot]
			raw := j.headers[slot*wire.HeaderSize:]
			switch {
			case s.Decision == DecisionFix:
				invariants.Assert(ClassifyHeader(raw, slot, c.SlotCount, &j.wcfg, &got) == HeaderPrepare && got == j.trusted[slot], "journal: fixed redundant header does not read back as its prepare")
			case s.Decision == DecisionNil:
				invariants.Assert(ClassifyHeader(raw, slot, c.SlotCount, &j.wcfg, &got) == HeaderReserved, "journal: emptied slot's redundant header does not read back as reserved")
			}
		}
	}
	wrote := false
	for i, d := range j.dirtySectors {
		if d {
			off := uint64(i) * SectorSize
			if err := j.io.write(j.headers[off:off+SectorSize], j.layout.WALHeaders.Offset+off); err != nil {
				return err
			}
			wrote = true
		}
	}
	for _, op := range report.Truncated {
		slot := j.layout.SlotOf(op)
		sector := j.prepareBuf[:SectorSize]
		clear(sector)
		r := reservedHeader(j.sb.Cluster, slot)
		r.Encode(sector)
		if err := j.io.write(sector, j.layout.PrepareOffset(slot)); err != nil {
			return err
		}
		wrote = true
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
		invariants.Assert(n <= uint64(len(j.prepareBuf)), "journal: validated prepare larger than its slot")
		if n > SectorSize {
			if err := j.io.read(j.prepareBuf[SectorSize:n], off+SectorSize); err != nil {
				return PrepareCorrupt, err
			}
		}
	}
	st := ClassifyPrepare(j.prepareBuf[:n], slot, j.layout.Config.SlotCount, &j.wcfg, h)
	invariants.Assert(st != PreparePrepare || uint64(h.Size) <= n, "journal: verified prepare longer than what was read")
	return st, nil
}

// Header returns the trusted header of op, if the journal holds one (the
// prepare itself may still need repair: see Report).
func (j *Journal) Header(op uint64) (wire.Header, bool) {
	slot := j.layout.SlotOf(op)
	invariants.Assert(j.report.Slots[slot].Slot == slot, "journal: slot report of another slot")
	if s := &j.report.Slots[slot]; s.Known && s.Op == op {
		h := j.trusted[slot]
		invariants.Assert(h.Op == op && h.Checksum == s.Checksum, "journal: trusted header differs from its slot report")
		return h, true
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
	invariants.Assert(h.Command == wire.CommandPrepare && h.Size >= wire.HeaderSize, "journal: verified prepare is not a prepare")
	invariants.Assert(int(h.Size) <= len(j.prepareBuf), "journal: verified prepare larger than its buffer")
	return j.prepareBuf[:h.Size], nil
}
