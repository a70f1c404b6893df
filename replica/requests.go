package replica

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// queuedRequest is a client request waiting for the next prepare.
type queuedRequest struct {
	msg  *wire.Message
	size uint32
	// tick is when it was queued; held is set once admission held it
	// back (statemachine.Admission).
	tick      uint64
	held      bool
	operation wire.Operation
}

// requestQueue is a fixed-capacity FIFO of requests on the primary.
type requestQueue struct {
	items []queuedRequest
	head  int
	count int
	bytes uint64 // the queued requests' sizes, headers included
}

func newRequestQueue(capacity int) requestQueue {
	invariants.Assert(capacity > 0, "replica: request queue without room")
	return requestQueue{items: make([]queuedRequest, capacity)}
}

func (q *requestQueue) full() bool {
	invariants.Assert(q.count >= 0 && q.count <= len(q.items), "replica: request queue count out of bounds")
	return q.count == len(q.items)
}

func (q *requestQueue) empty() bool {
	invariants.Assert(q.count >= 0 && q.head >= 0 && q.head < len(q.items), "replica: request queue count or head out of bounds")
	return q.count == 0
}

func (q *requestQueue) push(m *wire.Message, size uint32, operation wire.Operation, tick uint64) {
	if q.full() {
		panic("replica: request queue overflow")
	}
	invariants.Assert(m != nil && size >= wire.HeaderSize, "replica: queued request without a message or a header")
	q.items[(q.head+q.count)%len(q.items)] = queuedRequest{msg: m, size: size, operation: operation, tick: tick}
	q.count++
	q.bytes += uint64(size)
}

func (q *requestQueue) front() *queuedRequest {
	invariants.Assert(q.count > 0, "replica: front of an empty request queue")
	invariants.Assert(q.items[q.head].msg != nil, "replica: queued request without its message")
	return &q.items[q.head]
}

// pop removes the front request; the caller has taken over or dropped its
// reference.
func (q *requestQueue) pop() {
	invariants.Assert(q.count > 0, "replica: pop of an empty request queue")
	invariants.Assert(q.bytes >= uint64(q.items[q.head].size), "replica: request queue bytes below a queued request's size")
	q.bytes -= uint64(q.items[q.head].size)
	q.items[q.head] = queuedRequest{}
	q.head = (q.head + 1) % len(q.items)
	q.count--
}

// rotate moves the front request to the back (a request admission holds
// lets the ones behind it go first).
func (q *requestQueue) rotate() {
	invariants.Assert(q.count > 0, "replica: rotate of an empty request queue")
	invariants.Assert(q.items[q.head].msg != nil, "replica: rotate of a queued request without its message")
	front := q.items[q.head]
	q.items[q.head] = queuedRequest{}
	q.head = (q.head + 1) % len(q.items)
	q.items[(q.head+q.count-1)%len(q.items)] = front
}
