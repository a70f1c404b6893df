package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// orders is a small user state machine that charges a payment for each
// order it places (an outbox effect) and learns the outcome through
// outbox.Observer: a declined charge voids the order. It shows the path
// from a sink's answer back into replicated state.
type orders struct {
	status [ordersMax + 1]byte     // by order id
	result [ordersMax + 1][16]byte // the payment sink's answer
	emit   *outbox.Emitter
}

const (
	ordersMax = 64

	opPlace  = wire.OperationUserMin
	opLookup = wire.OperationUserMin + 1

	orderNone     = 0
	orderPlaced   = 1
	orderPaid     = 2
	orderVoided   = 3
	orderRejected = 4 // bad input or the outbox was full
)

func (o *orders) Validate(wire.Operation, []byte) error { return nil }

func (o *orders) Apply(_ *statemachine.Context, op wire.Operation, input, reply []byte) int {
	if len(input) != 8 {
		reply[0] = orderRejected
		return 1
	}
	id := binary.LittleEndian.Uint64(input)
	if id == 0 || id > ordersMax {
		reply[0] = orderRejected
		return 1
	}
	switch op {
	case opPlace:
		if o.status[id] == orderNone {
			if _, err := o.emit.Emit(1, []byte("payments"), input); err != nil {
				reply[0] = orderRejected
				return 1
			}
			o.status[id] = orderPlaced
		}
		reply[0] = o.status[id]
		return 1
	case opLookup:
		reply[0] = o.status[id]
		return 1 + copy(reply[1:], o.result[id][:])
	}
	reply[0] = orderRejected
	return 1
}

// EffectFinished implements outbox.Observer.
func (o *orders) EffectFinished(_ *statemachine.Context, e *outbox.Effect) {
	if len(e.Payload) != 8 {
		return
	}
	id := binary.LittleEndian.Uint64(e.Payload)
	if id == 0 || id > ordersMax || o.status[id] != orderPlaced {
		return
	}
	if e.State == outbox.StateDone {
		o.status[id] = orderPaid
	} else {
		o.status[id] = orderVoided
	}
	o.result[id] = [16]byte{}
	copy(o.result[id][:], e.Result)
}

func (o *orders) ReplySizeMax(wire.Operation, int) int { return 17 }

func (o *orders) SnapshotSizeMax() int { return len(o.status) * 17 }

func (o *orders) Snapshot(dst []byte) []byte {
	dst = append(dst, o.status[:]...)
	for i := range o.result {
		dst = append(dst, o.result[i][:]...)
	}
	return dst
}

func (o *orders) Restore(b []byte) error {
	if len(b) == 0 {
		*o = orders{emit: o.emit}
		return nil
	}
	if len(b) != len(o.status)*17 {
		return fmt.Errorf("orders snapshot of %d bytes: %w", len(b), statemachine.ErrInvalidInput)
	}
	copy(o.status[:], b)
	for i := range o.result {
		copy(o.result[i][:], b[len(o.status)+16*i:])
	}
	return nil
}

func (o *orders) Digest() wire.Uint128 {
	h := xxh3.Hash128(o.Snapshot(nil))
	return wire.Uint128{Lo: h.Lo, Hi: h.Hi}
}

// TestClusterEffectOutcomesReachTheStateMachine: the payment sink declines
// odd orders and authorizes even ones; every replica's state machine learns
// each outcome through the ack, voids the declined orders and keeps the
// sink's answer, and all replicas end with the same state.
func TestClusterEffectOutcomesReachTheStateMachine(t *testing.T) {
	sink := outbox.FuncSink(func(_ context.Context, d outbox.Delivery) ([]byte, error) {
		id := binary.LittleEndian.Uint64(d.Payload)
		if id%2 == 1 {
			return []byte("declined"), outbox.Permanent(outbox.ReasonUserMin, errors.New("card declined"))
		}
		return []byte(fmt.Sprintf("auth-%d", id)), nil
	})
	clusterID := wire.Uint128{Lo: 0x0B2}
	c, err := Start(Config{
		Replicas: 3,
		Dir:      t.TempDir(),
		Cluster:  clusterID,
		Outbox:   &outbox.Config{Cluster: clusterID, EffectsMax: 128},
		Sink:     sink,
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			return &orders{emit: em}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	cl := dial(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const placed = 20
	order := func(op wire.Operation, id uint64) []byte {
		t.Helper()
		reply, err := cl.Request(ctx, op, binary.LittleEndian.AppendUint64(nil, id))
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	for id := uint64(1); id <= placed; id++ {
		if r := order(opPlace, id); r[0] != orderPlaced {
			t.Fatalf("place %d: status %d", id, r[0])
		}
	}
	for id := uint64(1); id <= placed; id++ {
		for {
			r := order(opLookup, id)
			if r[0] != orderPlaced {
				want, result := byte(orderPaid), fmt.Sprintf("auth-%d", id)
				if id%2 == 1 {
					want, result = orderVoided, "declined"
				}
				if r[0] != want || string(r[1:1+len(result)]) != result {
					t.Fatalf("order %d: status %d result %q", id, r[0], r[1:])
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("order %d never settled", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	checkReplicasAgree(t, c)
}
