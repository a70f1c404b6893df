package wire

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/chronon-db/chronon/internal/invariants"
)

// ErrPoolExhausted means every message buffer of a Pool is in use. With the
// counts from MessagesMax this signals a bug or a peer flooding the replica;
// the caller drops the input that needed the buffer and counts it.
var ErrPoolExhausted = errors.New("wire: message pool exhausted")

// Message is one pooled buffer of message_size_max bytes, aligned to
// SectorSize, with a reference count. The replica holds a reference while a
// prepare sits in its pipeline, the journal while the buffer is being written
// with O_DIRECT, and each peer's send queue while it is being sent; the buffer
// returns to the pool when the last reference is dropped.
type Message struct {
	// Buffer is the whole buffer: header at [0, HeaderSize), body after it.
	// Its length is the pool's message size max and its start is aligned
	// to SectorSize.
	Buffer []byte
	refs   int32
	index  int32
	pool   *Pool
	// budgeted marks a buffer taken with GetBudgeted, counted in the
	// pool's Budgeted until it returns.
	budgeted bool
}

// Ref adds a reference and returns m, for handing m to one more owner.
func (m *Message) Ref() *Message {
	if m.refs <= 0 {
		invariants.Failf("wire: Ref on free message %d", m.index)
	}
	m.refs++
	invariants.Assert(m.refs > 0, "wire: message reference count overflows")
	return m
}

// Unref drops a reference; the last one returns m to its pool. Using m after
// the last Unref is a bug.
func (m *Message) Unref() {
	if m.refs <= 0 {
		invariants.Failf("wire: Unref on free message %d", m.index)
	}
	invariants.Assert(m.pool != nil, "wire: Unref on a message of no pool")
	m.refs--
	if m.refs == 0 {
		m.pool.put(m)
	}
}

// From reports whether m is a buffer of p.
func (m *Message) From(p *Pool) bool { return m.pool == p }

// Refs returns the current reference count (for assertions and tests).
func (m *Message) Refs() int32 { return m.refs }

// Bytes returns the first size bytes of the buffer: the encoded message
// whose header says Size == size.
func (m *Message) Bytes(size uint32) []byte {
	invariants.Assert(m.refs > 0, "wire: Bytes of a free message")
	return m.Buffer[:size]
}

// Pool is a fixed set of Messages allocated once at start-up. Get and Unref
// never allocate. A Pool belongs to one event loop and is not safe for
// concurrent use.
type Pool struct {
	messages []Message
	free     []int32 // stack of free message indexes
	size     int
	// budgeted counts buffers in use that GetBudgeted handed out.
	budgeted int
}

// NewPool allocates count buffers of messageSizeMax bytes (a multiple of
// SectorSize) in one sector-aligned slab.
func NewPool(count int, messageSizeMax uint32) (*Pool, error) {
	if count <= 0 {
		return nil, fmt.Errorf("%w: message pool count %d must be positive", ErrConfig, count)
	}
	if messageSizeMax < SectorSize || messageSizeMax%SectorSize != 0 {
		return nil, fmt.Errorf("%w: message size max %d is not a positive multiple of %d", ErrConfig, messageSizeMax, SectorSize)
	}
	size := int(messageSizeMax)
	slab := AlignedSlice(count * size)
	p := &Pool{
		messages: make([]Message, count),
		free:     make([]int32, count),
		size:     size,
	}
	for i := range p.messages {
		p.messages[i] = Message{
			Buffer: slab[i*size : (i+1)*size : (i+1)*size],
			index:  int32(i),
			pool:   p,
		}
		// Hand out low indexes first: deterministic and cache-friendly.
		p.free[i] = int32(count - 1 - i)
		b := p.messages[i].Buffer
		invariants.Assert(len(b) == size && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%SectorSize == 0, "wire: pooled buffer not sector-aligned")
	}
	invariants.Assert(p.Free() == count, "wire: new pool not all free")
	return p, nil
}

// Get returns a free message with one reference, or ErrPoolExhausted. The
// buffer's contents are whatever its last user left; callers encode a full
// header before use.
func (p *Pool) Get() (*Message, error) {
	n := len(p.free)
	if n == 0 {
		return nil, ErrPoolExhausted
	}
	m := &p.messages[p.free[n-1]]
	p.free = p.free[:n-1]
	if m.refs != 0 {
		invariants.Failf("wire: free message %d has %d references", m.index, m.refs)
	}
	invariants.Assert(m.pool == p && len(m.Buffer) == p.size, "wire: pooled message of another pool or size")
	m.refs = 1
	return m, nil
}

// GetBudgeted returns a free message like Get when fewer than max buffers
// taken with GetBudgeted are in use, and ErrPoolExhausted otherwise. The
// pool counts such a buffer until its last reference is dropped, whoever
// holds it then: the bus lends client connections a bounded share of the
// pool this way, which the request queue may keep for a while.
func (p *Pool) GetBudgeted(max int) (*Message, error) {
	if p.budgeted >= max {
		return nil, ErrPoolExhausted
	}
	m, err := p.Get()
	if err != nil {
		return nil, err
	}
	m.budgeted = true
	p.budgeted++
	invariants.Assert(p.budgeted <= max && p.budgeted <= len(p.messages)-len(p.free), "wire: budgeted buffers beyond their budget or the buffers in use")
	return m, nil
}

// Budgeted returns how many buffers taken with GetBudgeted are in use.
func (p *Pool) Budgeted() int { return p.budgeted }

func (p *Pool) put(m *Message) {
	if m.budgeted {
		m.budgeted = false
		p.budgeted--
		invariants.Assert(p.budgeted >= 0, "wire: more budgeted buffers returned than taken")
	}
	invariants.Assert(len(p.free) < cap(p.free), "wire: message pool free list overflow")
	invariants.Assert(m.refs == 0 && m.pool == p, "wire: message returned to its pool with references or to another pool")
	if invariants.Enabled {
		invariants.Assert(!slices.Contains(p.free, m.index), "wire: message returned to its pool twice")
	}
	p.free = append(p.free, m.index)
}

// Reset returns every message to the pool, whatever its references, for
// an owner that dropped everything holding them at once: the simulator
// reuses a crashed replica's pool when it restarts the replica. Messages
// handed out before must not be used again.
func (p *Pool) Reset() {
	invariants.Assert(cap(p.free) == len(p.messages), "wire: free list not sized to the pool")
	p.free = p.free[:len(p.messages)]
	p.budgeted = 0
	for i := range p.messages {
		p.messages[i].refs = 0
		p.messages[i].budgeted = false
		p.free[i] = int32(len(p.messages) - 1 - i)
	}
	invariants.Assert(p.Free() == p.Count(), "wire: reset pool not all free")
}

// Free returns the number of messages not in use.
func (p *Pool) Free() int {
	invariants.Assert(len(p.free) <= len(p.messages), "wire: more free messages than messages")
	return len(p.free)
}

// Count returns the number of messages in the pool.
func (p *Pool) Count() int { return len(p.messages) }

// MessageSizeMax returns the size of every buffer in the pool.
func (p *Pool) MessageSizeMax() int { return p.size }

// AlignedSlice returns a zeroed slice of n bytes whose first byte is aligned
// to SectorSize, as O_DIRECT requires. Go's heap never moves objects, so the
// alignment holds for the slice's lifetime.
func AlignedSlice(n int) []byte {
	raw := make([]byte, n+SectorSize)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) % SectorSize); rem != 0 {
		off = SectorSize - rem
	}
	b := raw[off : off+n : off+n]
	invariants.Assert(n == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%SectorSize == 0, "wire: aligned slice not aligned")
	return b
}
