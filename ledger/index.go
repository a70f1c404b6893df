package ledger

import (
	"math/bits"

	"github.com/chronon-db/chronon/wire"
)

// index maps ids to slots: open addressing with linear probing over a
// power-of-two table at least twice the capacity, allocated once. Entries are
// never removed (ledger records are immutable in existence), so there are
// no tombstones; an empty entry always ends a probe.
type index struct {
	entries []indexEntry
	mask    uint64
	seed    uint64
}

type indexEntry struct {
	id   wire.Uint128
	slot uint32 // slot + 1; 0 marks an empty entry
}

func newIndex(capacity int, seed uint64) index {
	n := 2
	for n < 2*capacity {
		n *= 2
	}
	return index{entries: make([]indexEntry, n), mask: uint64(n - 1), seed: seed}
}

func (x *index) reset() { clear(x.entries) }

// hashID mixes both halves of id and the seed (a 64×64→128-bit multiply,
// as in wyhash), so sequential and structured ids spread over the table.
func hashID(id wire.Uint128, seed uint64) uint64 {
	hi, lo := bits.Mul64(id.Lo^seed^0xa0761d6478bd642f, id.Hi^0xe7037ed1a0b428db)
	return hi ^ lo
}

// find returns the slot of id, or the empty position where id would go.
func (x *index) find(id wire.Uint128) (pos uint64, slot uint32, ok bool) {
	for pos = hashID(id, x.seed) & x.mask; ; pos = (pos + 1) & x.mask {
		e := &x.entries[pos]
		if e.slot == 0 {
			return pos, 0, false
		}
		if e.id == id {
			return pos, e.slot - 1, true
		}
	}
}

// get returns the slot of id.
func (x *index) get(id wire.Uint128) (uint32, bool) {
	_, slot, ok := x.find(id)
	return slot, ok
}

// insert records id at slot in the empty position pos returned by find.
func (x *index) insert(pos uint64, id wire.Uint128, slot uint32) {
	x.entries[pos] = indexEntry{id: id, slot: slot + 1}
}
