package cluster

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// webhook is an HTTP endpoint behind an outbox.Receiver that records how
// often its business logic ran for each transfer.
type webhook struct {
	mu       sync.Mutex
	applied  map[wire.Uint128]int
	requests int
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if len(body) != ledger.TransferSize {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	var tr ledger.Transfer
	tr.Decode(body)
	w.mu.Lock()
	w.applied[tr.ID]++
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

func (w *webhook) count() (distinct, total int, dup wire.Uint128) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, n := range w.applied {
		distinct++
		total += n
		if n > 1 {
			dup = id
		}
	}
	return distinct, total, dup
}

// TestClusterOutboxExactlyOnceAcrossFailover: every created transfer emits
// a webhook effect; the primary is stopped in the middle of the workload and
// later restarted; every effect reaches the endpoint's logic exactly once
// (the Receiver deduplicates the re-dispatches of the new primary).
func TestClusterOutboxExactlyOnceAcrossFailover(t *testing.T) {
	hook := &webhook{applied: map[wire.Uint128]int{}}
	var raw sync.Mutex
	rawRequests := 0
	rcv, err := outbox.OpenReceiver(filepath.Join(t.TempDir(), "receiver"), hook, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		raw.Lock()
		rawRequests++
		raw.Unlock()
		rcv.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	clusterID := wire.Uint128{Lo: 0x0B0}
	c, err := Start(Config{
		Replicas: 3,
		Dir:      t.TempDir(),
		Cluster:  clusterID,
		Outbox:   &outbox.Config{Cluster: clusterID, EffectsMax: 1024, PayloadSizeMax: ledger.TransferSize},
		Sink:     &outbox.HTTPSink{Timeout: 2 * time.Second},
		NewStateMachine: func(em *outbox.Emitter) statemachine.StateMachine {
			l, err := ledger.New(ledger.Config{AccountsMax: 256, TransfersMax: 4096, Effects: em, EffectsTarget: []byte(srv.URL)})
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
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 4, 40, 0)
	if _, err := c.StopReplica(0); err != nil { // the primary of view 0
		t.Fatal(err)
	}
	transferLoad(t, c, 4, 40, 1_000_000)
	if err := c.StartReplica(0); err != nil {
		t.Fatal(err)
	}
	transferLoad(t, c, 4, 20, 2_000_000)
	want := 4 * 100
	deadline := time.Now().Add(30 * time.Second)
	for {
		distinct, total, dup := hook.count()
		if !dup.IsZero() {
			t.Fatalf("transfer %v reached the endpoint's logic more than once", dup)
		}
		if distinct == want && total == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("effects delivered: %d of %d", distinct, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkBalances(t, admin, want)
	raw.Lock()
	t.Logf("%d effects applied once each; %d HTTP deliveries in all (re-dispatches deduplicated)", want, rawRequests)
	raw.Unlock()
}
