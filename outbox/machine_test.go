package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

const opEmit = wire.OperationUserMin

// emitMachine is the inner machine of the Machine tests: opEmit adds one
// to a counter and emits one effect; it observes finished effects.
type emitMachine struct {
	effects  *Emitter
	count    uint64
	finished int
	emitErr  error
}

func (m *emitMachine) Validate(op wire.Operation, input []byte) error {
	if op != opEmit {
		return statemachine.ErrInvalidInput
	}
	return nil
}

func (m *emitMachine) Apply(ctx *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if op != opEmit {
		return 0
	}
	m.count++
	_, m.emitErr = m.effects.Emit(3, []byte("target"), input)
	binary.LittleEndian.PutUint64(reply, m.count)
	return 8
}

func (m *emitMachine) ReplySizeMax(wire.Operation, int) int { return 8 }
func (m *emitMachine) Digest() wire.Uint128                 { return wire.Uint128{Lo: m.count, Hi: 1} }
func (m *emitMachine) Snapshot(dst []byte) []byte {
	return binary.LittleEndian.AppendUint64(dst, m.count)
}
func (m *emitMachine) SnapshotSizeMax() int { return 8 }

func (m *emitMachine) Restore(b []byte) error {
	switch len(b) {
	case 0:
		m.count = 0
	case 8:
		m.count = binary.LittleEndian.Uint64(b)
	default:
		return statemachine.ErrInvalidInput
	}
	return nil
}

func (m *emitMachine) EffectFinished(*statemachine.Context, *Effect) { m.finished++ }

func newTestMachine(t testing.TB) (*Machine, *emitMachine) {
	t.Helper()
	tb := newTestTable(t, Config{})
	inner := &emitMachine{effects: tb.Emitter()}
	m, err := NewMachine(inner, tb)
	if err != nil {
		t.Fatal(err)
	}
	return m, inner
}

// TestMachineEffectsCommitWithTheirRequest: an effect emitted by the inner
// machine's Apply is in the table, with the id of its op, and emitting
// outside an Apply fails.
func TestMachineEffectsCommitWithTheirRequest(t *testing.T) {
	m, inner := newTestMachine(t)
	reply := make([]byte, 64)
	ctx := statemachine.Context{Op: 4, Timestamp: 100, Client: wire.Uint128{Lo: 9}, Request: 1}
	if n := m.Apply(&ctx, opEmit, []byte("p"), reply); n != 8 || inner.emitErr != nil {
		t.Fatalf("apply: %d bytes, emit error %v", n, inner.emitErr)
	}
	if e, ok := m.Table().Get(EffectID(testCluster, 4, 0)); !ok || e.Created != 100 || string(e.Payload) != "p" {
		t.Fatalf("effect of op 4: %+v %v", e, ok)
	}
	if _, err := inner.effects.Emit(3, []byte("target"), nil); !errors.Is(err, ErrNotApplying) {
		t.Fatalf("emit outside apply: %v", err)
	}
	if m.Digest() != add128(inner.Digest(), m.Table().Digest()) {
		t.Fatal("digest is not the inner machine's plus the table's")
	}
}

// TestMachineAppliesAcksFromTheLocalClientOnly: an ack applies only as a
// local request (statemachine.LocalClient); applying it again changes
// nothing; the observer and the acks hook learn of it.
func TestMachineAppliesAcksFromTheLocalClientOnly(t *testing.T) {
	m, inner := newTestMachine(t)
	reply := make([]byte, 64)
	m.Apply(&statemachine.Context{Op: 4, Timestamp: 100, Client: wire.Uint128{Lo: 9}, Request: 1}, opEmit, nil, reply)
	id := EffectID(testCluster, 4, 0)
	var hooked [][]byte
	m.OnAcksCommitted(func(body []byte) { hooked = append(hooked, append([]byte(nil), body...)) })
	body := AppendAckBody(nil, []Ack{{ID: id, View: 1, Attempt: 1, Outcome: OutcomeDone}})
	if !m.LocalOnly(wire.OperationOutboxAck) || m.LocalOnly(opEmit) || m.LocalOnly(wire.OperationOutboxQuery) {
		t.Fatal("only outbox_ack is local-only")
	}
	ack := func(client wire.Uint128) AckReply {
		n := m.Apply(&statemachine.Context{Op: 5, Timestamp: 200, Client: client, Request: 1}, wire.OperationOutboxAck, body, reply)
		r, ok := DecodeAckReply(reply[:n])
		if !ok {
			t.Fatal("bad ack reply")
		}
		return r
	}
	if r := ack(wire.Uint128{Lo: 9}); r.Status != AckInvalid || m.Table().Len() != 1 || len(hooked) != 0 {
		t.Fatalf("ack from a client: %+v, %d open, %d hooked", r, m.Table().Len(), len(hooked))
	}
	if r := ack(statemachine.LocalClient); r.Status != AckOK || r.Applied != 1 || m.Table().Len() != 0 || inner.finished != 1 {
		t.Fatalf("local ack: %+v, %d open, %d finished", r, m.Table().Len(), inner.finished)
	}
	digest := m.Digest()
	if r := ack(statemachine.LocalClient); r.Unknown != 1 || m.Digest() != digest || inner.finished != 1 {
		t.Fatalf("ack applied twice: %+v", r)
	}
	if len(hooked) != 2 || !bytes.Equal(hooked[0], body) {
		t.Fatalf("hook saw %d bodies", len(hooked))
	}
}

// TestMachineSnapshotHoldsStateAndTable: one snapshot restores the inner
// state and the table; malformed ones are refused with ErrInvalidInput.
func TestMachineSnapshotHoldsStateAndTable(t *testing.T) {
	m, _ := newTestMachine(t)
	reply := make([]byte, 64)
	for op := uint64(1); op <= 3; op++ {
		m.Apply(&statemachine.Context{Op: op, Timestamp: 100 * op, Client: wire.Uint128{Lo: 9}, Request: uint32(op)}, opEmit, []byte{byte(op)}, reply)
	}
	snap := m.Snapshot([]byte("prefix"))[len("prefix"):]
	if len(snap) > m.SnapshotSizeMax() {
		t.Fatalf("snapshot of %d bytes above SnapshotSizeMax %d", len(snap), m.SnapshotSizeMax())
	}
	restored, inner := newTestMachine(t)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != m.Digest() || inner.count != 3 || restored.Table().Len() != 3 {
		t.Fatalf("restored: count %d, %d effects", inner.count, restored.Table().Len())
	}
	query := AppendQuery(nil, Query{Filter: QueryOpen})
	a, b := make([]byte, 4096), make([]byte, 4096)
	na := m.Apply(&statemachine.Context{Op: 9}, wire.OperationOutboxQuery, query, a)
	nb := restored.Apply(&statemachine.Context{Op: 9}, wire.OperationOutboxQuery, query, b)
	if !bytes.Equal(a[:na], b[:nb]) || na <= QueryReplyHeaderSize {
		t.Fatalf("query answers differ (%d and %d bytes)", na, nb)
	}
	for _, bad := range [][]byte{snap[:4], snap[:len(snap)-1], append([]byte{0xff}, snap[1:]...)} {
		if err := restored.Restore(bad); !errors.Is(err, statemachine.ErrInvalidInput) {
			t.Fatalf("malformed snapshot of %d bytes: %v", len(bad), err)
		}
	}
	if err := restored.Restore(nil); err != nil || inner.count != 0 || restored.Table().Len() != 0 {
		t.Fatalf("empty snapshot: %v, count %d, %d effects", err, inner.count, restored.Table().Len())
	}
}

// TestMachineValidateAndReplySizes: acks and queries are checked against
// the table's formats; other operations go to the inner machine.
func TestMachineValidateAndReplySizes(t *testing.T) {
	m, _ := newTestMachine(t)
	if err := m.Validate(wire.OperationOutboxAck, []byte{1}); !errors.Is(err, ErrAckBody) {
		t.Fatalf("bad ack body: %v", err)
	}
	if err := m.Validate(wire.OperationOutboxQuery, AppendQuery(nil, Query{Filter: QueryFailed})); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(wire.OperationOutboxQuery, []byte{1}); !errors.Is(err, statemachine.ErrInvalidInput) {
		t.Fatalf("bad query: %v", err)
	}
	if err := m.Validate(opEmit+1, nil); !errors.Is(err, statemachine.ErrInvalidInput) {
		t.Fatalf("inner validate: %v", err)
	}
	if m.ReplySizeMax(wire.OperationOutboxAck, 100) != AckReplySize || m.ReplySizeMax(wire.OperationOutboxQuery, QuerySize) != QueryReplyHeaderSize || m.ReplySizeMax(opEmit, 1) != 8 {
		t.Fatal("reply sizes")
	}
	if _, err := NewMachine(nil, m.Table()); !errors.Is(err, ErrConfig) {
		t.Fatalf("machine without inner: %v", err)
	}
}

// TestMachineApplyDoesNotAllocate: the decorator adds no allocation to a
// request's apply or an ack's.
func TestMachineApplyDoesNotAllocate(t *testing.T) {
	m, _ := newTestMachine(t)
	reply := make([]byte, 64)
	ctx := statemachine.Context{Op: 1, Timestamp: 1, Client: wire.Uint128{Lo: 9}}
	id := EffectID(testCluster, 1, 0)
	body := AppendAckBody(nil, []Ack{{ID: id, View: 1, Attempt: 1, Outcome: OutcomeRetry}})
	local := statemachine.Context{Op: 1, Timestamp: 1, Client: statemachine.LocalClient}
	allocs := testing.AllocsPerRun(100, func() {
		ctx.Op++
		ctx.Timestamp++
		m.Apply(&ctx, opEmit, nil, reply)
		local.Op, local.Timestamp = ctx.Op, ctx.Timestamp
		m.Apply(&local, wire.OperationOutboxAck, body, reply)
		m.Table().Reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per apply", allocs)
	}
}
