package outbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// The life of one effect on a primary: emitted during apply, due, delivered
// by the dispatcher, acknowledged through (here: simulated) consensus.
func Example() {
	tbl, _ := outbox.NewTable(outbox.Config{Cluster: wire.Uint128{Lo: 1}})
	em := tbl.Emitter()

	// Commit of op 7: the state machine's Apply emits an effect.
	ctx := statemachine.Context{Op: 7, Timestamp: 1_000}
	em.Begin(&ctx)
	id, _ := em.Emit(1, []byte("mailer"), []byte("to: ada@example.com"))
	em.End()

	sink := outbox.FuncSink(func(_ context.Context, d outbox.Delivery) ([]byte, error) {
		fmt.Printf("deliver key=%v token=%d attempt=%d %s\n", d.ID == id, d.Token, d.Attempt, d.Payload)
		return []byte("queued"), nil
	})
	disp, _ := outbox.NewDispatcher(outbox.DispatcherConfig{Sink: sink})
	defer disp.Close(context.Background())

	// Node loop, primary of view 3.
	disp.Offer(3, tbl.Due(nil, 2_000, 64, disp.Busy))
	var acks []outbox.Ack
	for len(acks) == 0 {
		acks = disp.Acks(3, 1<<20)
		time.Sleep(time.Millisecond)
	}
	body := outbox.AppendAckBody(nil, acks)

	// Commit of the outbox_ack request on every replica.
	reply := make([]byte, outbox.AckReplySize)
	tbl.ApplyAck(&statemachine.Context{Op: 8, Timestamp: 3_000}, body, reply)
	disp.Committed(body)
	r, _ := outbox.DecodeAckReply(reply)
	fmt.Printf("applied=%d open=%d done=%d\n", r.Applied, tbl.Len(), tbl.Stats().Done)
	// Output:
	// deliver key=true token=3 attempt=1 to: ada@example.com
	// applied=1 open=0 done=1
}
