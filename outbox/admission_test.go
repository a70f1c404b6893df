package outbox

import (
	"errors"
	"math"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// boundedMachine is an emitMachine that bounds its effects: opEmit emits
// one per input byte at most.
type boundedMachine struct{ emitMachine }

func (m *boundedMachine) EffectsBound(op wire.Operation, input []byte) uint64 {
	if op != opEmit {
		return 0
	}
	return uint64(len(input))
}

// TestMachineAdmissionRoom: off by default (no limit, no cost); on, the
// room is the free slots up to the threshold's fill and shrinks as
// free²/(slots above the threshold) to 0 at a full table; acks and queries
// cost nothing, other requests what the inner machine bounds.
func TestMachineAdmissionRoom(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 100})
	inner := &boundedMachine{emitMachine{effects: tb.Emitter()}}
	m, err := NewMachine(inner, tb)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.AdmissionRoom(); got != math.MaxUint64 {
		t.Fatalf("room with admission off: %d", got)
	}
	if err := m.SetAdmission(101); !errors.Is(err, ErrConfig) {
		t.Fatalf("SetAdmission(101): %v", err)
	}
	if err := m.SetAdmission(50); err != nil {
		t.Fatal(err)
	}
	if c := m.AdmissionCost(opEmit, []byte("abc")); c != 3 {
		t.Fatalf("cost of a 3-effect request: %d", c)
	}
	if m.AdmissionCost(wire.OperationOutboxAck, []byte("abc")) != 0 || m.AdmissionCost(wire.OperationOutboxQuery, []byte("abc")) != 0 {
		t.Fatal("acks or queries cost admission room")
	}
	want := map[int]uint64{0: 100, 50: 50, 60: 40 * 40 / 50, 90: 10 * 10 / 50, 99: 0, 100: 0}
	for open := 0; open <= 100; open++ {
		if w, ok := want[open]; ok {
			if got := m.AdmissionRoom(); got != w {
				t.Fatalf("room with %d of 100 open: %d, want %d", open, got, w)
			}
		}
		if open < 100 {
			emit(t, tb, uint64(open+1), uint64(open+1), "t")
		}
	}
	plain, _ := newTestMachine(t)
	if err := plain.SetAdmission(50); err != nil {
		t.Fatal(err)
	}
	if c := plain.AdmissionCost(opEmit, []byte("abc")); c != 0 {
		t.Fatalf("cost for an inner machine without EffectsBound: %d", c)
	}
}
