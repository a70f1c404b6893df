package outbox

import "github.com/chronon-db/chronon/wire"

// index maps effect ids to slots: open addressing with linear probing,
// entries hold slot number + 1 (0 = empty), home = id.Lo (ids are hashes
// already). It has at least twice as many entries as the table has slots,
// so an empty entry always ends a probe. Removal shifts later entries back
// (no tombstones).
type index struct {
	entries []uint32
	mask    uint64
}

func newIndex(slots int) index {
	n := 2
	for n < 2*slots {
		n *= 2
	}
	return index{entries: make([]uint32, n), mask: uint64(n - 1)}
}

func (x *index) reset() { clear(x.entries) }

// find returns the slot holding id.
func (x *index) find(slots []slot, id wire.Uint128) (uint32, bool) {
	for p := id.Lo & x.mask; ; p = (p + 1) & x.mask {
		e := x.entries[p]
		if e == 0 {
			return 0, false
		}
		if slots[e-1].id == id {
			return e - 1, true
		}
	}
}

// insert adds slot i, whose id is not in the index.
func (x *index) insert(slots []slot, i uint32) {
	p := slots[i].id.Lo & x.mask
	for x.entries[p] != 0 {
		p = (p + 1) & x.mask
	}
	x.entries[p] = i + 1
}

// remove deletes slot i, which is in the index.
func (x *index) remove(slots []slot, i uint32) {
	p := slots[i].id.Lo & x.mask
	for x.entries[p] != i+1 {
		p = (p + 1) & x.mask
	}
	// Shift back later entries of the run that would become unreachable:
	// the entry at j may move to p unless its home lies cyclically in
	// (p, j].
	for j := (p + 1) & x.mask; x.entries[j] != 0; j = (j + 1) & x.mask {
		home := slots[x.entries[j]-1].id.Lo & x.mask
		if p <= j {
			if p < home && home <= j {
				continue
			}
		} else if p < home || home <= j {
			continue
		}
		x.entries[p] = x.entries[j]
		p = j
	}
	x.entries[p] = 0
}
