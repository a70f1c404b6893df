package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// TestClusterOutboxQuery runs a sink that declines some transfers for good
// and keeps failing others, and lists the outbox through the client: the
// declined ones are kept as failed with their reason, the flaky ones are
// open and retrying, and the counters add up.
func TestClusterOutboxQuery(t *testing.T) {
	const transfers = 40
	declined := func(id uint64) bool { return id%7 == 0 }
	flaky := func(id uint64) bool { return id%10 == 3 }
	sink := outbox.FuncSink(func(_ context.Context, d outbox.Delivery) ([]byte, error) {
		var tr ledger.Transfer
		tr.Decode(d.Payload)
		switch {
		case declined(tr.ID.Lo):
			return []byte("declined"), outbox.Permanent(outbox.ReasonUserMin+1, errors.New("card declined"))
		case flaky(tr.ID.Lo):
			return nil, errors.New("gateway timeout")
		}
		return nil, nil
	})
	clusterID := wire.Uint128{Lo: 0x0B1}
	c, err := Start(Config{
		Replicas: 3,
		Dir:      t.TempDir(),
		Cluster:  clusterID,
		Outbox:   &outbox.Config{Cluster: clusterID, EffectsMax: 256},
		Sink:     sink,
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: 64, TransfersMax: 1000, Effects: em, EffectsTarget: []byte("payments")})
			if err != nil {
				panic(err)
			}
			return l
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	cl := dial(t, c)
	createAccounts(t, cl)
	transferLoad(t, c, 1, transfers, 0)

	var wantFailed, wantOpen []uint64
	for id := uint64(1); id <= transfers; id++ {
		switch {
		case declined(id):
			wantFailed = append(wantFailed, id)
		case flaky(id):
			wantOpen = append(wantOpen, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := func(effects []outbox.Effect) []uint64 {
		var out []uint64
		for _, e := range effects {
			var tr ledger.Transfer
			tr.Decode(e.Payload)
			out = append(out, tr.ID.Lo)
		}
		slices.Sort(out)
		return out
	}
	for {
		failed, stats, err := cl.AllOutboxEffects(ctx, outbox.QueryFailed)
		if err != nil {
			t.Fatal(err)
		}
		open, _, err := cl.AllOutboxEffects(ctx, outbox.QueryOpen)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(ids(failed), wantFailed) && slices.Equal(ids(open), wantOpen) {
			for _, e := range failed {
				if e.State != outbox.StateFailed || e.Reason != outbox.ReasonUserMin+1 || string(e.Result) != "declined" {
					t.Fatalf("failed effect %+v", e)
				}
			}
			if stats.Emitted != transfers || stats.Failed != uint64(len(wantFailed)) || stats.Kept != len(wantFailed) ||
				stats.Done+stats.Failed+uint64(stats.Open) != stats.Emitted {
				t.Fatalf("stats %+v", stats)
			}
			t.Logf("stats %+v; %d failed and %d open listed", stats, len(failed), len(open))
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("failed %v (want %v), open %v (want %v)", ids(failed), wantFailed, ids(open), wantOpen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Paging: one effect per page gives the same list.
	var paged []outbox.Effect
	q := outbox.Query{Filter: outbox.QueryFailed, Limit: 1}
	for {
		r, err := cl.OutboxEffects(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, r.Effects...)
		if !r.More {
			break
		}
		q.AfterOp, q.AfterIndex = r.Effects[0].Op, r.Effects[0].Index
	}
	if !slices.Equal(ids(paged), wantFailed) {
		t.Fatalf("paged %v, want %v", ids(paged), wantFailed)
	}
}
