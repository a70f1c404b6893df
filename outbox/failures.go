package outbox

import (
	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// failures is the table's bounded record of the most recent permanently
// failed effects. The table forgets an effect when it finishes; a failed one
// is copied here first so that operators can still list it (Query) and see
// why it failed. It is replicated state: it is in snapshots and in the
// digest, and the oldest entry is dropped when a new failure arrives at
// capacity (Config.FailedKeep), the same on every replica.
type failures struct {
	entries []slot // ring of FailedKeep entries, oldest at start
	arena   []byte // target | payload | result per entry, at entry × stride
	start   int
	n       int
	sum     wire.Uint128 // sum modulo 2^128 of the entries' record hashes
}

func newFailures(keep, stride int) failures {
	return failures{entries: make([]slot, keep), arena: make([]byte, keep*stride)}
}

func (f *failures) reset() {
	clear(f.entries)
	f.start, f.n = 0, 0
	f.sum = wire.Uint128{}
}

// at returns the position in entries of the k-th oldest kept failure.
func (f *failures) at(k int) int { return (f.start + k) % len(f.entries) }

// keepFailure copies slot i, already in StateFailed, into the kept
// failures, dropping the oldest one at capacity.
func (t *Table) keepFailure(i uint32) {
	f := &t.failures
	if len(f.entries) == 0 {
		return
	}
	if f.n == len(f.entries) {
		f.sum = sub128(f.sum, f.entries[f.start].hash)
		f.start = (f.start + 1) % len(f.entries)
		f.n--
	}
	target, payload, result := t.bytesOf(i)
	t.putFailure(&t.slots[i], target, payload, result)
}

// putFailure appends a failed effect as the newest kept failure; the caller
// made room.
func (t *Table) putFailure(s *slot, target, payload, result []byte) {
	f := &t.failures
	if f.n == len(f.entries) || s.state != StateFailed {
		panic("outbox: kept failure without room or not failed")
	}
	p := f.at(f.n)
	e := &f.entries[p]
	*e = *s
	base := p * t.stride
	copy(f.arena[base:], target)
	copy(f.arena[base+t.cfg.TargetSizeMax:], payload)
	copy(f.arena[base+t.cfg.TargetSizeMax+t.cfg.PayloadSizeMax:], result)
	rec := appendSlotRecord(t.scratch[:0], e, target, payload, result)
	h := xxh3.Hash128Seed(rec, seedRecord)
	e.hash = wire.Uint128{Lo: h.Lo, Hi: h.Hi}
	f.sum = add128(f.sum, e.hash)
	f.n++
}

// failureBytes returns the target, payload and result of the kept failure
// at position p of the ring.
func (t *Table) failureBytes(p int) (target, payload, result []byte) {
	return t.regions(t.failures.arena, p, &t.failures.entries[p])
}

// failureEffect returns the kept failure at ring position p as an Effect
// aliasing the table's memory.
func (t *Table) failureEffect(p int) Effect {
	target, payload, result := t.failureBytes(p)
	return slotEffect(&t.failures.entries[p], target, payload, result)
}

// Failed appends to dst the kept failures, oldest first, and returns it.
// Their slices alias the table's memory (see Effect).
func (t *Table) Failed(dst []Effect) []Effect {
	for k := range t.failures.n {
		dst = append(dst, t.failureEffect(t.failures.at(k)))
	}
	return dst
}
