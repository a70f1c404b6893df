package ledger

import (
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// index maps ids to slots: open addressing with linear probing over a
// power-of-two table at least twice the capacity, allocated once (at a
// load near 3/4 a new id's probe grows to ~8 entries and inserts run at
// half speed; at 1/2, ~2.5). An
// entry is 8 bytes, not the 16-byte id: the high 32 bits of the id's hash
// (its low bits pick the position) and the slot + 1 (0 marks an empty
// entry). A tag match is confirmed against the record's id, read through
// src. Entries are never removed (ledger records are immutable in
// existence), so there are no tombstones; an empty entry always ends a
// probe.
type index struct {
	entries []uint64 // tag<<32 | slot+1
	mask    uint64
	seed    uint64
	src     idSource
}

// idSource returns the id of the record in a slot.
type idSource interface {
	idAt(slot uint32) wire.Uint128
}

func newIndex(capacity int, seed uint64, src idSource) index {
	n := 2
	for n < 2*capacity {
		n *= 2
	}
	invariants.Assert(uint64(n) >= 2*uint64(capacity), "ledger: index table above half full at capacity")
	invariants.Assert(n <= 1<<32, "ledger: index table beyond 2^32 entries")
	return index{entries: make([]uint64, n), mask: uint64(n - 1), seed: seed, src: src}
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
	h := hashID(id, x.seed)
	tag := h &^ (1<<32 - 1)
	for pos = h & x.mask; ; pos = (pos + 1) & x.mask {
		e := x.entries[pos]
		if e == 0 {
			return pos, 0, false
		}
		if e&^(1<<32-1) == tag && x.src.idAt(uint32(e)-1) == id {
			return pos, uint32(e) - 1, true
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
	invariants.Assert(x.entries[pos] == 0 && slot < 1<<32-1, "ledger: index insert over an entry, or of a slot beyond 2^32-2")
	x.entries[pos] = hashID(id, x.seed)&^(1<<32-1) | uint64(slot+1)
}

// accountIDs and transferIDs are a Ledger as the idSource of its account
// and transfer indexes.
type (
	accountIDs  Ledger
	transferIDs Ledger
)

func (a *accountIDs) idAt(slot uint32) wire.Uint128 { return a.accounts[slot].ID }

// idAt reads an evicted transfer back (Prefetch performs the same reads).
func (t *transferIDs) idAt(slot uint32) wire.Uint128 { return (*Ledger)(t).transferAt(slot).ID }
