package replica

import (
	"fmt"
	"math/bits"

	"github.com/chronon-db/chronon/wire"
)

// ringEntry is one prepared but not yet locally committed op.
type ringEntry struct {
	msg      *wire.Message
	header   wire.Header
	written  bool   // durable in this replica's journal
	oks      uint64 // primary: replicas whose prepare_ok (or own write) arrived
	sentTick uint64 // primary: tick of the last (re)transmission
}

// prepareRing holds the ops (commitMin, op] in order, with a reference to
// each prepare's message. It is allocated once, with twice the pipeline
// depth, so a backup can hold a full pipeline while it still applies the
// previous one.
type prepareRing struct {
	entries []ringEntry
	first   uint64 // op of the oldest entry (commitMin+1)
	count   int
}

func newPrepareRing(capacity int) prepareRing {
	return prepareRing{entries: make([]ringEntry, capacity), first: 1}
}

func (r *prepareRing) full() bool { return r.count == len(r.entries) }

// get returns the entry of op, or nil when op is not in the ring.
func (r *prepareRing) get(op uint64) *ringEntry {
	if op < r.first || op >= r.first+uint64(r.count) {
		return nil
	}
	return &r.entries[op%uint64(len(r.entries))]
}

// push appends the prepare m (whose reference the ring takes over) as the
// next op.
func (r *prepareRing) push(m *wire.Message, h *wire.Header, tick uint64) *ringEntry {
	if r.full() {
		panic("replica: prepare ring overflow")
	}
	if h.Op != r.first+uint64(r.count) {
		panic(fmt.Sprintf("replica: prepare ring push of op %d, want %d", h.Op, r.first+uint64(r.count)))
	}
	e := &r.entries[h.Op%uint64(len(r.entries))]
	*e = ringEntry{msg: m, header: *h, sentTick: tick}
	r.count++
	return e
}

// pop removes the oldest entry and drops its message reference.
func (r *prepareRing) pop() {
	if r.count == 0 {
		panic("replica: pop of an empty prepare ring")
	}
	e := &r.entries[r.first%uint64(len(r.entries))]
	e.msg.Unref()
	*e = ringEntry{}
	r.first++
	r.count--
}

func (e *ringEntry) okCount() int { return bits.OnesCount64(e.oks) }
