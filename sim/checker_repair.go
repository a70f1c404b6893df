package sim

// InvariantRepairDropped: a checkpoint took back a damaged stable block
// the replica had repaired (its stable block k moved to a repaired copy,
// then back to the damaged block, which still fails its checksum, without
// the simulator damaging that block again): the repair was lost and the
// damage returns after every checkpoint.
const InvariantRepairDropped = "repair_dropped"

// repairWatch follows one replica instance's stable blocks (the ledger's
// transfers in the grid) between its observations.
type repairWatch struct {
	addr []uint64 // by stable block: its grid address at the last look
	left []uint64 // by stable block: the address it last moved away from (0: none)
	// What changed the blocks since the last look: repairs written, the
	// durable checkpoint, the bytes held.
	repairs, checkpoint uint64
	held                int
}

// reset forgets the blocks (a new replica instance).
func (w *repairWatch) reset() {
	w.addr, w.left = w.addr[:0], w.left[:0]
	w.repairs, w.checkpoint, w.held = 0, 0, 0
}

// damaged forgets the expectation on a grid address the simulator
// damaged: a block taken back after that is damaged anew, not unrepaired.
func (w *repairWatch) damaged(address uint64) {
	for k, a := range w.left {
		if a == address {
			w.left[k] = 0
		}
	}
}

// watchRepairs checks h's stable blocks after a replica call
// (InvariantRepairDropped).
func (s *Sim) watchRepairs(h *host) {
	j := h.journal
	if j == nil || h.ledger == nil || h.wal.Busy() {
		return // (the journal reads nothing while its prepares are written: look later)
	}
	w := &h.repairWatch
	_, held := j.StableHeld()
	repairs, checkpoint := j.RepairStats(), j.Superblock().VSR.CheckpointOp
	if held == w.held && repairs == w.repairs && checkpoint == w.checkpoint {
		return
	}
	w.held, w.repairs, w.checkpoint = held, repairs, checkpoint
	n := held / j.StableUnit()
	for len(w.addr) < n {
		w.addr, w.left = append(w.addr, 0), append(w.left, 0)
	}
	for k := range n {
		a := j.StableBlockAddress(k)
		old := w.addr[k]
		if a == old {
			continue
		}
		if a != 0 && a == w.left[k] {
			// Read with misdirection off: the check draws nothing from
			// the storage's PRNG, so it leaves the run unchanged.
			mr := h.storage.misdirectRead
			h.storage.misdirectRead = 0
			err := j.VerifyStable(k)
			h.storage.misdirectRead = mr
			if err != nil {
				s.fail(violation(InvariantRepairDropped, "replica %d: checkpoint %d holds stable block %d at grid block %d again, which it had replaced and which is still damaged: %v",
					h.index, checkpoint, k, a, err))
				return
			}
		}
		w.addr[k] = a
		if old != 0 {
			w.left[k] = old
		}
	}
}
