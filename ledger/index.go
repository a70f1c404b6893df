package ledger

import (
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// index maps ids to slots: open addressing with linear probing over a
// power-of-two table at least 4/3 of the capacity, allocated once. An
// entry holds the id's 64-bit hash and its slot (12 bytes, not the 16-byte
// id): a hash match is confirmed against the record's id, read through
// src. Entries are never removed (ledger records are immutable in
// existence), so there are no tombstones; an empty entry always ends a
// probe.
type index struct {
	hashes []uint64
	slots  []uint32 // slot + 1; 0 marks an empty entry
	mask   uint64
	seed   uint64
	src    idSource
}

// idSource returns the id of the record in a slot.
type idSource interface {
	idAt(slot uint32) wire.Uint128
}

func newIndex(capacity int, seed uint64, src idSource) index {
	n := 2
	for n < capacity+capacity/3+1 {
		n *= 2
	}
	invariants.Assert(uint64(n)*3 >= uint64(capacity)*4, "ledger: index table above a 3/4 load at capacity")
	return index{hashes: make([]uint64, n), slots: make([]uint32, n), mask: uint64(n - 1), seed: seed, src: src}
}

func (x *index) reset() { clear(x.slots) }

// hashID mixes both halves of id and the seed (a 64×64→128-bit multiply,
// as in wyhash), so sequential and structured ids spread over the table.
func hashID(id wire.Uint128, seed uint64) uint64 {
	hi, lo := bits.Mul64(id.Lo^seed^0xa0761d6478bd642f, id.Hi^0xe7037ed1a0b428db)
	return hi ^ lo
}

// find returns the slot of id, or the empty position where id would go.
func (x *index) find(id wire.Uint128) (pos uint64, slot uint32, ok bool) {
	h := hashID(id, x.seed)
	for pos = h & x.mask; ; pos = (pos + 1) & x.mask {
		s := x.slots[pos]
		if s == 0 {
			return pos, 0, false
		}
		if x.hashes[pos] == h && x.src.idAt(s-1) == id {
			return pos, s - 1, true
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
	invariants.Assert(x.slots[pos] == 0, "ledger: index insert over an entry")
	x.hashes[pos] = hashID(id, x.seed)
	x.slots[pos] = slot + 1
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
