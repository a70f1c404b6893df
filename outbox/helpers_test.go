package outbox

import (
	"strings"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

var testCluster = wire.Uint128{Lo: 0xc1, Hi: 0x5e}

func newTestTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	if cfg.Cluster.IsZero() {
		cfg.Cluster = testCluster
	}
	tb, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// emit applies one request at (op, ts) that emits the given targets.
func emit(t testing.TB, tb *Table, op, ts uint64, targets ...string) []wire.Uint128 {
	t.Helper()
	e := tb.Emitter()
	e.Begin(&statemachine.Context{Op: op, Timestamp: ts})
	defer e.End()
	var ids []wire.Uint128
	for _, target := range targets {
		id, err := e.Emit(7, []byte(target), []byte("payload:"+target))
		if err != nil {
			t.Fatalf("emit %q: %v", target, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// applyAcks applies acks at commit timestamp ts and returns the reply.
func applyAcks(t testing.TB, tb *Table, ts uint64, acks ...Ack) AckReply {
	t.Helper()
	body := AppendAckBody(nil, acks)
	var reply [AckReplySize]byte
	n := tb.ApplyAck(&statemachine.Context{Op: 1000, Timestamp: ts}, body, reply[:])
	r, ok := DecodeAckReply(reply[:n])
	if !ok {
		t.Fatal("bad reply")
	}
	return r
}

type recordingObserver struct{ finished []Effect }

func (o *recordingObserver) EffectFinished(_ *statemachine.Context, e *Effect) {
	c := *e
	c.Target = append([]byte(nil), e.Target...)
	c.Payload = append([]byte(nil), e.Payload...)
	c.Result = append([]byte(nil), e.Result...)
	o.finished = append(o.finished, c)
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
