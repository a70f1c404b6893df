package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// admissionRun is one run of a writer faster than its sink: a one-replica
// ledger whose every transfer emits an effect into a 128-effect outbox,
// drained by sink; clients goroutines each create perClient transfers in
// batches of batch, sending again the transfers answered outbox_full.
type admissionRun struct {
	admission int           // cluster.Config.EffectsAdmission
	wait      time.Duration // cluster.Config.EffectsAdmissionWait
	sink      outbox.Sink
	clients   int
	perClient int
	batch     int
}

type admissionResult struct {
	outboxFull int64         // transfers answered outbox_full (then sent again)
	slowest    time.Duration // the longest CreateTransfers call
	held       uint64        // replica counters
	expired    uint64
}

func (a admissionRun) run(t *testing.T) admissionResult {
	t.Helper()
	clusterID := wire.Uint128{Lo: 0xAD0}
	c, err := Start(Config{
		Replicas:             1,
		Dir:                  t.TempDir(),
		Cluster:              clusterID,
		Outbox:               &outbox.Config{Cluster: clusterID, EffectsMax: 128, PayloadSizeMax: ledger.TransferSize},
		Sink:                 a.sink,
		EffectsWorkers:       1,
		EffectsAdmission:     a.admission,
		EffectsAdmissionWait: a.wait,
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: 256, TransfersMax: 8192, Effects: em, EffectsTarget: []byte("sink")})
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
	createAccounts(t, dial(t, c))
	var res admissionResult
	var full atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, a.clients)
	for k := range a.clients {
		cl := dial(t, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for i := 0; i < a.perClient; i += a.batch {
				var batch []ledger.Transfer
				for j := i; j < i+a.batch; j++ {
					id := uint64(k*a.perClient+j) + 1
					batch = append(batch, ledger.Transfer{
						ID:              wire.Uint128{Lo: id},
						DebitAccountID:  wire.Uint128{Lo: id%accounts + 1},
						CreditAccountID: wire.Uint128{Lo: (id+1)%accounts + 1},
						Amount:          wire.Uint128{Lo: 1},
						Ledger:          1,
						Code:            1,
					})
				}
				for len(batch) > 0 {
					start := time.Now()
					failed, err := cl.CreateTransfers(ctx, batch)
					took := time.Since(start)
					if err != nil {
						errs <- fmt.Errorf("client %d: %w", k, err)
						return
					}
					mu.Lock()
					res.slowest = max(res.slowest, took)
					mu.Unlock()
					var again []ledger.Transfer
					for _, f := range failed {
						if f.Result != ledger.ResultOutboxFull {
							errs <- fmt.Errorf("client %d: transfer %d: %v", k, f.Index, f.Result)
							return
						}
						full.Add(1)
						again = append(again, batch[f.Index])
					}
					batch = again
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m := c.Node(0).Metrics()
	res.outboxFull = full.Load()
	res.held, res.expired = m.Protocol.AdmissionHeld, m.Protocol.AdmissionExpired
	return res
}

// slowSink takes every effect after delay: about 1/delay effects per
// second with one worker.
func slowSink(delay time.Duration) outbox.Sink {
	return outbox.FuncSink(func(ctx context.Context, d outbox.Delivery) ([]byte, error) {
		select {
		case <-time.After(delay):
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}

// TestClusterAdmissionBackpressure: a writer several times faster than
// its sink (8 clients against one worker taking an effect per
// millisecond) fills a 128-effect outbox. Without admission the ledger
// answers outbox_full (the client sends those transfers again); with it the
// primary holds requests back in its queue while the outbox is more than
// half full, and no transfer is answered outbox_full: the sink's rate
// reaches the client as latency, below the admission wait.
func TestClusterAdmissionBackpressure(t *testing.T) {
	base := admissionRun{sink: slowSink(time.Millisecond), clients: 8, perClient: 96, batch: 8, wait: 30 * time.Second}
	off := base
	off.admission = -1
	without := off.run(t)
	with := base.run(t)
	t.Logf("without admission: %d outbox_full, slowest call %v; with: %d outbox_full, slowest call %v, %d requests held, %d expired",
		without.outboxFull, without.slowest, with.outboxFull, with.slowest, with.held, with.expired)
	if without.outboxFull == 0 {
		t.Fatalf("a writer faster than its sink saw no outbox_full without admission: the run does not fill the outbox")
	}
	if with.outboxFull != 0 || with.expired != 0 {
		t.Fatalf("with admission: %d transfers answered outbox_full, %d held requests expired", with.outboxFull, with.expired)
	}
	if with.held == 0 || without.held != 0 {
		t.Fatalf("requests held: %d with admission, %d without", with.held, without.held)
	}
}

// TestClusterAdmissionWaitBounded: a sink that never answers keeps the
// outbox full; a held request waits EffectsAdmissionWait, then is prepared
// anyway and its transfers beyond the outbox's room are answered
// outbox_full: no request waits unboundedly.
func TestClusterAdmissionWaitBounded(t *testing.T) {
	stuck := outbox.FuncSink(func(ctx context.Context, d outbox.Delivery) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	wait := 200 * time.Millisecond
	clusterID := wire.Uint128{Lo: 0xAD1}
	c, err := Start(Config{
		Replicas:             1,
		Dir:                  t.TempDir(),
		Cluster:              clusterID,
		Outbox:               &outbox.Config{Cluster: clusterID, EffectsMax: 128, PayloadSizeMax: ledger.TransferSize},
		Sink:                 stuck,
		EffectsWorkers:       1,
		EffectsAdmissionWait: wait,
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: 256, TransfersMax: 8192, Effects: em, EffectsTarget: []byte("sink")})
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var slowest time.Duration
	full := 0
	// 160 transfers into 128 slots: the last requests can only be answered
	// outbox_full, once they have waited.
	for i := range 20 {
		var batch []ledger.Transfer
		for j := range 8 {
			id := uint64(i*8+j) + 1
			batch = append(batch, ledger.Transfer{ID: wire.Uint128{Lo: id}, DebitAccountID: wire.Uint128{Lo: id%accounts + 1},
				CreditAccountID: wire.Uint128{Lo: (id+1)%accounts + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1})
		}
		start := time.Now()
		failed, err := cl.CreateTransfers(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		for _, f := range failed {
			if f.Result != ledger.ResultOutboxFull {
				t.Fatalf("transfer %d: %v", f.Index, f.Result)
			}
			full++
		}
	}
	m := c.Node(0).Metrics().Protocol
	t.Logf("%d transfers answered outbox_full; slowest call %v; %d requests held, %d expired", full, slowest, m.AdmissionHeld, m.AdmissionExpired)
	if full < 160-128 || m.AdmissionExpired == 0 {
		t.Fatalf("%d outbox_full, %d expired: the held requests did not end in outbox_full after the wait", full, m.AdmissionExpired)
	}
	if slowest < wait {
		t.Fatalf("slowest call %v, below the admission wait %v: no request was held", slowest, wait)
	}
}
