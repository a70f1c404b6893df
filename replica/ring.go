package replica

import (
	"fmt"
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// ringEntry is one prepared but not yet locally committed op.
type ringEntry struct {
	msg      *wire.Message
	header   wire.Header
	written  bool   // durable in this replica's journal
	oks      uint64 // primary: replicas whose prepare_ok (or own write) arrived
	sentTick uint64 // primary: tick of the last (re)transmission
	cost     uint64 // primary: admission cost of its requests (statemachine.Admission; 0 if not prepared here)
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
	invariants.Assert(capacity >= 2 && capacity%2 == 0, "replica: prepare ring not twice a pipeline")
	invariants.Assert(capacity <= 2*64, "replica: prepare ring larger than two pipelines of the most prepares")
	return prepareRing{entries: make([]ringEntry, capacity), first: 1}
}

func (r *prepareRing) full() bool {
	invariants.Assert(r.count >= 0 && r.count <= len(r.entries), "replica: prepare ring count out of bounds")
	invariants.Assert(r.first > 0, "replica: prepare ring starts at the root op")
	return r.count == len(r.entries)
}

// get returns the entry of op, or nil when op is not in the ring.
func (r *prepareRing) get(op uint64) *ringEntry {
	if op < r.first || op >= r.first+uint64(r.count) {
		return nil
	}
	e := &r.entries[op%uint64(len(r.entries))]
	invariants.Assert(e.header.Op == op, "replica: prepare ring entry holds another op")
	invariants.Assert(e.msg != nil, "replica: prepare ring entry without its message")
	return e
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
	invariants.Assert(m != nil && h.Command == wire.CommandPrepare, "replica: prepare ring push of something else than a prepare")
	if r.count > 0 {
		prev := &r.entries[(h.Op-1)%uint64(len(r.entries))]
		invariants.Assert(prev.header.Op+1 == h.Op && prev.header.Checksum == h.Parent, "replica: prepare ring push does not chain from the newest entry")
	}
	e := &r.entries[h.Op%uint64(len(r.entries))]
	invariants.Assert(e.msg == nil, "replica: prepare ring push into an occupied slot")
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
	invariants.Assert(e.header.Op == r.first && e.msg != nil, "replica: prepare ring pop of a slot that does not hold its first op")
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
	invariants.Assert(e.header.Op == r.first+uint64(r.count)-1 && e.msg != nil, "replica: prepare ring truncation of a slot that does not hold its last op")
	e.msg.Unref()
	*e = ringEntry{}
	r.count--
}

// okCount is the number of replicas whose acknowledgement of e counted.
func (e *ringEntry) okCount() int {
	invariants.Assert(e.msg != nil, "replica: acknowledgements counted for an empty ring entry")
	return bits.OnesCount64(e.oks)
}

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
	invariants.Assert(capacity >= 2 && capacity%2 == 0, "replica: future buffer not as large as the prepare ring")
	invariants.Assert(capacity <= 2*64, "replica: future buffer larger than two pipelines of the most prepares")
	return futureRing{msgs: make([]*wire.Message, capacity), headers: make([]wire.Header, capacity)}
}

// put keeps a reference to prepare m if its op is within the window after
// commitMin; it returns false (keeping nothing) otherwise.
func (f *futureRing) put(m *wire.Message, h *wire.Header, commitMin uint64) bool {
	invariants.Assert(h.Command == wire.CommandPrepare, "replica: future buffer put of something else than a prepare")
	n := uint64(len(f.msgs))
	if h.Op > commitMin+n {
		return false
	}
	i := h.Op % n
	if f.msgs[i] != nil {
		invariants.Assert(f.headers[i].Op%n == i, "replica: future buffer slot holds an op of another slot")
		if f.headers[i].Op == h.Op && f.headers[i].Checksum == h.Checksum {
			return true // a duplicate
		}
		f.msgs[i].Unref()
		f.count--
	}
	f.msgs[i], f.headers[i] = m.Ref(), *h
	f.count++
	invariants.Assert(f.count > 0 && f.count <= len(f.msgs), "replica: future buffer count out of bounds")
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
	invariants.Assert(h.Op%uint64(len(f.msgs)) == i, "replica: future buffer slot holds an op of another slot")
	f.msgs[i] = nil
	f.count--
	invariants.Assert(f.count >= 0, "replica: future buffer count below zero")
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
	invariants.Assert(f.count >= 0 && f.count <= len(f.msgs), "replica: future buffer count out of bounds")
	invariants.Assert(f.msgs[i] == nil || f.headers[i].Op%uint64(len(f.msgs)) == i, "replica: future buffer slot holds an op of another slot")
	return f.msgs[i] != nil && f.headers[i].Op == op
}

// drop releases whatever op's slot holds: a copy of op itself, or a stale
// op a whole window below it. The prepare ring is about to hold op in that
// slot.
func (f *futureRing) drop(op uint64) {
	i := op % uint64(len(f.msgs))
	if f.msgs[i] != nil {
		invariants.Assert(f.headers[i].Op <= op, "replica: future buffer drops an op above the one appended")
		f.msgs[i].Unref()
		f.msgs[i] = nil
		f.count--
		invariants.Assert(f.count >= 0, "replica: future buffer count below zero")
	}
}

// clear drops every buffered prepare.
func (f *futureRing) clear() {
	held := 0
	for i, m := range f.msgs {
		if m != nil {
			invariants.Assert(f.headers[i].Op%uint64(len(f.msgs)) == uint64(i), "replica: future buffer slot holds an op of another slot")
			m.Unref()
			f.msgs[i] = nil
			held++
		}
	}
	invariants.Assert(held == f.count, "replica: future buffer count differs from the messages it holds")
	f.count = 0
}
