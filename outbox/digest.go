package outbox

import (
	"encoding/binary"
	"math/bits"

	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// Seeds of the digest hashes.
const (
	seedRecord = 0x6f62_7265_63 // "obrec"
	seedDigest = 0x6f62_6467_73 // "obdgs"
)

// rehash recomputes slot i's record hash and replaces it in the sum.
func (t *Table) rehash(i uint32) {
	s := &t.slots[i]
	t.sum = sub128(t.sum, s.hash)
	rec := t.appendRecord(t.scratch[:0], i)
	h := xxh3.Hash128Seed(rec, seedRecord)
	s.hash = wire.Uint128{Lo: h.Lo, Hi: h.Hi}
	t.sum = add128(t.sum, s.hash)
}

// Digest returns a checksum of the table's replicated state: the sum
// modulo 2^128 of every effect's record hash (so it does not depend on slot
// placement or history), the counters, and the sum of the kept failures'
// record hashes. It is O(1).
func (t *Table) Digest() wire.Uint128 {
	var b [56]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], t.sum.Lo)
	le.PutUint64(b[8:], t.sum.Hi)
	le.PutUint64(b[16:], t.emitted)
	le.PutUint64(b[24:], t.done)
	le.PutUint64(b[32:], t.failed)
	le.PutUint64(b[40:], t.failures.sum.Lo)
	le.PutUint64(b[48:], t.failures.sum.Hi)
	h := xxh3.Hash128Seed(b[:], seedDigest)
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

func add128(a, b wire.Uint128) wire.Uint128 {
	lo, c := bits.Add64(a.Lo, b.Lo, 0)
	hi, _ := bits.Add64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}
}

func sub128(a, b wire.Uint128) wire.Uint128 {
	lo, c := bits.Sub64(a.Lo, b.Lo, 0)
	hi, _ := bits.Sub64(a.Hi, b.Hi, c)
	return wire.Uint128{Lo: lo, Hi: hi}
}
