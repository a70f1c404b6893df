package outbox

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// benchTable returns a table of capacity n.
func benchTable(b *testing.B, n int) *Table {
	return newTestTable(b, Config{EffectsMax: n, PayloadSizeMax: 256})
}

// BenchmarkEmit emits one effect per request and acks it done in batches
// so the table never fills.
func BenchmarkEmit(b *testing.B) {
	tb := benchTable(b, 4096)
	e := tb.Emitter()
	target, payload := []byte("https://example.com/hook"), make([]byte, 128)
	ctx := statemachine.Context{}
	b.ReportAllocs()
	for i := range b.N {
		if tb.Len() == tb.Cap() {
			b.StopTimer()
			tb.Reset()
			b.StartTimer()
		}
		ctx.Op, ctx.Timestamp = uint64(i+1), uint64(i+1)
		e.Begin(&ctx)
		if _, err := e.Emit(1, target, payload); err != nil {
			b.Fatal(err)
		}
		e.End()
	}
}

// BenchmarkApplyAck applies a body of 64 retry acks (the attempt number
// advancing each round so every ack applies); reported per ack.
func BenchmarkApplyAck(b *testing.B) {
	const n = 64
	tb := benchTable(b, n)
	e := tb.Emitter()
	e.Begin(&statemachine.Context{Op: 1, Timestamp: 1})
	acks := make([]Ack, n)
	for i := range acks {
		id, err := e.Emit(1, []byte("t"), nil)
		if err != nil {
			b.Fatal(err)
		}
		acks[i] = Ack{ID: id, View: 1, Outcome: OutcomeRetry, Result: []byte("503 busy")}
	}
	e.End()
	cfg := tb.Config()
	bodies := make([][]byte, cfg.AttemptsMax-1)
	for a := range bodies {
		for i := range acks {
			acks[i].Attempt = uint32(a + 1)
		}
		bodies[a] = AppendAckBody(nil, acks)
	}
	snap := tb.Snapshot(nil)
	var reply [AckReplySize]byte
	ctx := statemachine.Context{Op: 2, Timestamp: 2}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		round := i % len(bodies)
		if round == 0 && i > 0 {
			b.StopTimer()
			if err := tb.Restore(snap); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		tb.ApplyAck(&ctx, bodies[round], reply[:])
		if r, _ := DecodeAckReply(reply[:]); r.Applied != n {
			b.Fatalf("applied %d", r.Applied)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ack")
}

// BenchmarkDigest is the O(1) digest.
func BenchmarkDigest(b *testing.B) {
	tb := benchTable(b, 1024)
	b.ReportAllocs()
	for b.Loop() {
		_ = tb.Digest()
	}
}

func TestEmitAndApplyAckDoNotAllocate(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 256})
	e := tb.Emitter()
	target, payload := []byte("https://example.com/hook"), []byte("payload")
	ctx := statemachine.Context{}
	op := uint64(0)
	allocs := testing.AllocsPerRun(100, func() {
		op++
		ctx.Op, ctx.Timestamp = op, op
		e.Begin(&ctx)
		if _, err := e.Emit(1, target, payload); err != nil {
			t.Fatal(err)
		}
		e.End()
	})
	if allocs != 0 {
		t.Fatalf("Emit: %v allocs", allocs)
	}
	due := tb.Due(make([]Effect, 0, 256), ^uint64(0), 256, nil)
	bodies := make([][]byte, len(due))
	for i := range due {
		bodies[i] = AppendAckBody(nil, []Ack{{ID: due[i].ID, View: 1, Attempt: 1, Outcome: OutcomeDone, Result: []byte("ok")}})
	}
	var reply [AckReplySize]byte
	i := 0
	allocs = testing.AllocsPerRun(50, func() {
		tb.ApplyAck(&ctx, bodies[i], reply[:])
		i++
	})
	if allocs != 0 {
		t.Fatalf("ApplyAck: %v allocs", allocs)
	}
	dst := make([]Effect, 0, 256)
	allocs = testing.AllocsPerRun(10, func() { _ = tb.Due(dst[:0], ^uint64(0), 256, nil) })
	if allocs != 0 {
		t.Fatalf("Due: %v allocs", allocs)
	}
}
