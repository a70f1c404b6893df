package journal

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// Repairing the durable checkpoint's stable blocks. A stable block that
// fails its checksum when read back (ReadStable) holds bytes every replica's
// stable prefix repeats: the replica fetches them from a peer, and
// RepairStable writes them, verified against the block's index entry, to a
// free block. Reads use the repaired block from then on, and the next
// checkpoint references it instead of the damaged one (which is freed when
// that checkpoint is durable). Until then a crash forgets the repair: the
// damaged block is found again at restart.

// RepairsMax is how many repaired stable blocks wait for the next
// checkpoint at most.
const RepairsMax = 16

// ErrRepairsPending is returned by RepairStable while RepairsMax repairs
// wait for the next checkpoint: the block is asked for again later.
var ErrRepairsPending = errors.New("journal: stable repairs wait for the next checkpoint")

// repair is a repaired stable block: block k of the stable prefix, now at
// e.address.
type repair struct {
	k int
	e blockEntry
}

// RepairStable writes payload as block k of the durable checkpoint's stable
// prefix (the bytes [k×unit, (k+1)×unit) of StableHeld's prefix) when it
// matches that block's index entry: the payload's checksum must be the
// entry's. It returns an error wrapping ErrCorrupt for bytes that do not
// match (a peer's wrong answer), ErrRepairsPending when RepairsMax repairs
// wait, ErrGridFull when no block is free, or the write's error.
func (j *Journal) RepairStable(k int, payload []byte) error {
	j.checkWritable()
	_, held := j.StableHeld()
	pm := j.blockPayloadMax()
	if k < 0 || (k+1)*pm > held {
		return fmt.Errorf("%w: stable block %d beyond the %d bytes held", ErrCorrupt, k, held)
	}
	e := j.cur[RefState][j.curStableFirst+k]
	if len(payload) != int(e.size) || wire.Checksum(payload) != e.body {
		return fmt.Errorf("%w: repair of stable block %d does not match its index entry", ErrCorrupt, k)
	}
	for i := range j.repairs {
		if r := &j.repairs[i]; r.k == k {
			// Repaired already, and damaged again: the same bytes at the
			// same place (the same header, so the same checksum).
			h, err := j.writeBlock(BlockState, r.e.address, payload, nil, j.sb.VSR.CheckpointOp, true)
			if err != nil {
				return err
			}
			invariants.Assert(h.Checksum == r.e.checksum, "journal: a repair written again has another checksum")
			j.gridRepaired++
			return nil
		}
	}
	if len(j.repairs) == RepairsMax {
		return fmt.Errorf("%w: %d repairs wait for the next checkpoint", ErrRepairsPending, RepairsMax)
	}
	address := j.freeBlock(1)
	if address == 0 {
		return fmt.Errorf("%w: no free block for a repair", ErrGridFull)
	}
	j.repSet.acquire(address)
	h, err := j.writeBlock(BlockState, address, payload, nil, j.sb.VSR.CheckpointOp, true)
	if err != nil {
		j.repSet.release(address)
		return err
	}
	invariants.Assert(h.ChecksumBody == e.body, "journal: repaired block's body differs from its entry's")
	e.address, e.checksum = address, h.Checksum
	j.repairs = append(j.repairs, repair{k: k, e: e})
	j.gridRepaired++
	invariants.Assert(j.repSet.acquired() == len(j.repairs), "journal: repair set and repairs disagree")
	return nil
}

// repaired returns the repaired entry of stable block k, or nil.
func (j *Journal) repaired(k int) *blockEntry {
	invariants.Assert(len(j.repairs) <= RepairsMax, "journal: more repairs than their bound")
	for i := range j.repairs {
		if j.repairs[i].k == k {
			invariants.Assert(j.repSet.isAcquired(j.repairs[i].e.address), "journal: a repaired block outside the repair set")
			return &j.repairs[i].e
		}
	}
	return nil
}

// forgetRepairs frees the repaired blocks no checkpoint took and forgets
// every repair (after a checkpoint is durable: the ones it took are its
// blocks now).
func (j *Journal) forgetRepairs() {
	invariants.Assert(j.repSet.acquired() <= len(j.repairs), "journal: repair set holds blocks no repair names")
	for i := range j.repairs {
		if a := j.repairs[i].e.address; j.repSet.isAcquired(a) {
			j.repSet.release(a)
		}
	}
	j.repairs = j.repairs[:0]
	invariants.Assert(j.repSet.acquired() == 0, "journal: repaired blocks left after their release")
}

// StableBlockAddress returns the grid address of block k of the stable
// prefix the durable checkpoint holds (a repaired block's when it was
// repaired), or 0 when k is beyond it. Tools and the simulator use it.
func (j *Journal) StableBlockAddress(k int) uint64 {
	_, held := j.StableHeld()
	if k < 0 || (k+1)*j.blockPayloadMax() > held {
		return 0
	}
	if r := j.repaired(k); r != nil {
		return r.address
	}
	e := &j.cur[RefState][j.curStableFirst+k]
	invariants.Assert(e.stable && j.acquired.isAcquired(e.address), "journal: a held stable block unmarked or free")
	return e.address
}

// RepairStats returns how many stable blocks RepairStable wrote since Open.
func (j *Journal) RepairStats() uint64 {
	invariants.Assert(j.repSet.acquired() == len(j.repairs), "journal: repair set and repairs disagree")
	return j.gridRepaired
}

// VerifyStable reads block k of the held stable prefix from the grid (not
// from the cache, so that damage a cached copy hides is found) and
// verifies it against its index entry. Errors wrap ErrCorrupt or ErrIO.
func (j *Journal) VerifyStable(k int) error {
	_, held := j.StableHeld()
	pm := j.blockPayloadMax()
	if k < 0 || (k+1)*pm > held {
		invariants.Failf("journal: verify of stable block %d beyond the %d bytes held", k, held)
	}
	e := &j.cur[RefState][j.curStableFirst+k]
	if r := j.repaired(k); r != nil {
		e = r
	}
	invariants.Assert(e.stable && int(e.size) == pm, "journal: verify of a block that is not a full stable one")
	if _, err := j.readEntry(j.blockBuf, e, BlockState); err != nil {
		return fmt.Errorf("stable block %d: %w", k, err)
	}
	return nil
}
