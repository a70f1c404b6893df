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

// truncateLast removes the newest entry (an uncommitted op a view change
// discarded) and drops its message reference.
func (r *prepareRing) truncateLast() {
	if r.count == 0 {
		panic("replica: truncate of an empty prepare ring")
	}
	e := &r.entries[(r.first+uint64(r.count)-1)%uint64(len(r.entries))]
	e.msg.Unref()
	*e = ringEntry{}
	r.count--
}

func (e *ringEntry) okCount() int { return bits.OnesCount64(e.oks) }

// futureRing holds prepares that arrived ahead of a gap on a backup (or
// that wait for a journal write slot), at most one per op within the ring's
// window, until the ops before them arrive. It has as many slots as the
// prepare ring and an op uses slot op % len in both; a slot holds a buffer
// in one of them at most (appendPrepare drops the future's copy of the op
// it appends, and put never keeps an op the ring holds), so together they
// pin at most len buffers.
type futureRing struct {
	msgs    []*wire.Message
	headers []wire.Header
	count   int // slots holding a message
}

func newFutureRing(capacity int) futureRing {
	return futureRing{msgs: make([]*wire.Message, capacity), headers: make([]wire.Header, capacity)}
}

// put keeps a reference to prepare m if its op is within the window after
// commitMin; it returns false (keeping nothing) otherwise.
func (f *futureRing) put(m *wire.Message, h *wire.Header, commitMin uint64) bool {
	n := uint64(len(f.msgs))
	if h.Op > commitMin+n {
		return false
	}
	i := h.Op % n
	if f.msgs[i] != nil {
		if f.headers[i].Op == h.Op && f.headers[i].Checksum == h.Checksum {
			return true // a duplicate
		}
		f.msgs[i].Unref()
		f.count--
	}
	f.msgs[i], f.headers[i] = m.Ref(), *h
	f.count++
	return true
}

// take returns (handing over its reference) the buffered prepare of op if
// it chains from parent; stale entries for op's slot are dropped.
func (f *futureRing) take(op uint64, parent wire.Uint128) (*wire.Message, *wire.Header) {
	i := op % uint64(len(f.msgs))
	m := f.msgs[i]
	if m == nil {
		return nil, nil
	}
	h := f.headers[i]
	f.msgs[i] = nil
	f.count--
	if h.Op != op || h.Parent != parent {
		m.Unref()
		return nil, nil
	}
	f.headers[i] = h
	return m, &f.headers[i]
}

// has reports whether a prepare of op is buffered.
func (f *futureRing) has(op uint64) bool {
	i := op % uint64(len(f.msgs))
	return f.msgs[i] != nil && f.headers[i].Op == op
}

// drop releases whatever op's slot holds: a copy of op itself, or a stale
// op a whole window below it. The prepare ring is about to hold op in that
// slot.
func (f *futureRing) drop(op uint64) {
	i := op % uint64(len(f.msgs))
	if f.msgs[i] != nil {
		f.msgs[i].Unref()
		f.msgs[i] = nil
		f.count--
	}
}

// clear drops every buffered prepare.
func (f *futureRing) clear() {
	for i, m := range f.msgs {
		if m != nil {
			m.Unref()
			f.msgs[i] = nil
		}
	}
	f.count = 0
}
