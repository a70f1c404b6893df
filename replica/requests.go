package replica

import "github.com/chronon-db/chronon/wire"

// queuedRequest is a client request waiting for the next prepare.
type queuedRequest struct {
	msg  *wire.Message
	size uint32
}

// requestQueue is a fixed-capacity FIFO of requests on the primary.
type requestQueue struct {
	items []queuedRequest
	head  int
	count int
}

func newRequestQueue(capacity int) requestQueue {
	return requestQueue{items: make([]queuedRequest, capacity)}
}

func (q *requestQueue) full() bool  { return q.count == len(q.items) }
func (q *requestQueue) empty() bool { return q.count == 0 }

func (q *requestQueue) push(m *wire.Message, size uint32) {
	if q.full() {
		panic("replica: request queue overflow")
	}
	q.items[(q.head+q.count)%len(q.items)] = queuedRequest{msg: m, size: size}
	q.count++
}

func (q *requestQueue) front() *queuedRequest { return &q.items[q.head] }

// pop removes the front request; the caller has taken over or dropped its
// reference.
func (q *requestQueue) pop() {
	q.items[q.head] = queuedRequest{}
	q.head = (q.head + 1) % len(q.items)
	q.count--
}
