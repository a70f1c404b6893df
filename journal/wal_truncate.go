package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// Truncate durably removes every op above afterOp from the WAL: their slots
// become reserved (the prepare's first sector and the redundant header), so
// recovery never brings back ops that a view change discarded. It is
// synchronous (two syncs when anything changed) and must not run while
// SubmitPrepares is in flight. Ops at or below the checkpoint are never
// above afterOp in a correct replica (asserted).
func (j *Journal) Truncate(afterOp uint64) error {
	j.checkWritable()
	if afterOp < j.sb.VSR.CheckpointOp {
		panic(fmt.Sprintf("journal: truncate after op %d, below the checkpoint at op %d", afterOp, j.sb.VSR.CheckpointOp))
	}
	kept := j.pending[:0]
	for _, p := range j.pending {
		if p.Op <= afterOp {
			kept = append(kept, p)
		}
	}
	j.pending = kept
	clear(j.dirtySectors)
	sector := j.truncateSector()
	changed := false
	for slot := range j.report.Slots {
		rs := &j.report.Slots[slot]
		if !rs.Known || rs.Op <= afterOp {
			continue
		}
		h := reservedHeader(j.sb.Cluster, uint32(slot))
		clear(sector)
		h.Encode(sector)
		if err := j.io.write(sector, j.layout.PrepareOffset(uint32(slot))); err != nil {
			return err
		}
		at := uint32(slot) * wire.HeaderSize
		h.Encode(j.headers[at : at+wire.HeaderSize])
		j.dirtySectors[at/SectorSize] = true
		*rs = SlotReport{Slot: uint32(slot), Header: HeaderReserved, Prepare: PrepareReserved, Class: ClassReserved, Decision: DecisionNil}
		j.trusted[slot] = wire.Header{}
		changed = true
	}
	if !changed {
		return nil
	}
	// The prepares' slots first: a crash now leaves redundant headers that
	// name ops whose prepares are reserved (vsr: repaired or nacked by the
	// cluster), never a prepare that recovery would trust on its own.
	if err := j.io.sync(); err != nil {
		return err
	}
	for i, d := range j.dirtySectors {
		if !d {
			continue
		}
		off := uint64(i) * SectorSize
		if err := j.io.write(j.headers[off:off+SectorSize], j.layout.WALHeaders.Offset+off); err != nil {
			return err
		}
	}
	if j.report.OpMax > afterOp {
		j.report.OpMax = afterOp
	}
	return j.io.sync()
}

// truncateSector returns a sector-aligned scratch buffer (the reply buffer
// is free between reply operations).
func (j *Journal) truncateSector() []byte { return j.replyBuf[:SectorSize] }
