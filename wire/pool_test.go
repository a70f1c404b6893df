package wire

import (
	"errors"
	"testing"
	"unsafe"
)

func TestPoolAlignmentAndBounds(t *testing.T) {
	p, err := NewPool(5, MessageSizeMaxTest)
	if err != nil {
		t.Fatal(err)
	}
	held := make([]*Message, 0, 5)
	for i := 0; i < 5; i++ {
		m, err := p.Get()
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if len(m.Buffer) != MessageSizeMaxTest || cap(m.Buffer) != MessageSizeMaxTest {
			t.Fatalf("buffer len %d cap %d", len(m.Buffer), cap(m.Buffer))
		}
		if addr := uintptr(unsafe.Pointer(&m.Buffer[0])); addr%SectorSize != 0 {
			t.Fatalf("buffer %d at %#x is not sector aligned", i, addr)
		}
		held = append(held, m)
	}
	if _, err := p.Get(); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("sixth Get: %v, want ErrPoolExhausted", err)
	}
	// Buffers do not overlap: writing one leaves the others alone.
	for i, m := range held {
		m.Buffer[0], m.Buffer[len(m.Buffer)-1] = byte(i+1), byte(i+1)
	}
	for i, m := range held {
		if m.Buffer[0] != byte(i+1) || m.Buffer[len(m.Buffer)-1] != byte(i+1) {
			t.Fatalf("buffer %d overwritten by a neighbour", i)
		}
	}
	if p.Free() != 0 || p.Count() != 5 || p.MessageSizeMax() != MessageSizeMaxTest {
		t.Fatalf("free %d count %d size %d", p.Free(), p.Count(), p.MessageSizeMax())
	}
}

func TestPoolReferenceCounting(t *testing.T) {
	p, err := NewPool(2, SectorSize)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := p.Get()
	m.Ref().Ref() // journal write + one peer send
	if m.Refs() != 3 {
		t.Fatalf("refs %d, want 3", m.Refs())
	}
	m.Unref()
	m.Unref()
	if p.Free() != 1 {
		t.Fatalf("message returned before its last reference: free %d", p.Free())
	}
	m.Unref()
	if p.Free() != 2 {
		t.Fatalf("message not returned after last reference: free %d", p.Free())
	}
	mustPanic(t, "Unref of a free message", m.Unref)
	mustPanic(t, "Ref of a free message", func() { m.Ref() })
}

func TestPoolConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		count int
		size  uint32
	}{{0, SectorSize}, {-1, SectorSize}, {1, 100}, {1, SectorSize + 1}} {
		if _, err := NewPool(tc.count, tc.size); !errors.Is(err, ErrConfig) {
			t.Errorf("NewPool(%d, %d): %v", tc.count, tc.size, err)
		}
	}
}

func TestPoolGetUnrefDoesNotAllocate(t *testing.T) {
	p, _ := NewPool(4, SectorSize)
	allocs := testing.AllocsPerRun(1000, func() {
		m, err := p.Get()
		if err != nil {
			panic(err)
		}
		m.Ref()
		m.Unref()
		m.Unref()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Get/Ref/Unref", allocs)
	}
}

func TestLimitsMessagesMax(t *testing.T) {
	// The derivation in docs/protocol.md: window of uncommitted ops (two
	// pipelines) + request queue + journal I/O + peers (receive + send
	// queue) + clients (receive + send queue + stored reply) + scratch.
	l := LimitsProduction
	want := 2*8 + 64 + (8 + 16) + 5*(1+16) + 64*(1+2+1) + 4
	if got := l.MessagesMax(); got != want {
		t.Fatalf("production MessagesMax %d, want %d", got, want)
	}
	if LimitsTest.MessagesMax() >= l.MessagesMax() {
		t.Fatalf("test preset not smaller than production")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	f()
}

// TestPoolReset: Reset frees every message, held or not, and the pool then
// hands them out in the same order as a new one.
func TestPoolReset(t *testing.T) {
	p, err := NewPool(3, SectorSize)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Get()
	b, _ := p.Get()
	a.Ref()
	b.Unref()
	p.Reset()
	if p.Free() != 3 {
		t.Fatalf("free %d after Reset, want 3", p.Free())
	}
	for i := 0; i < 3; i++ {
		m, err := p.Get()
		if err != nil || m != &p.messages[i] || m.Refs() != 1 {
			t.Fatalf("get %d after Reset: message %d refs %d err %v", i, m.index, m.Refs(), err)
		}
	}
}
