package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// TestProcessesOutboxSurvivesKillOfThePrimary runs three `chronon start
// --effects-url` processes: every created transfer is POSTed to an HTTP
// endpoint behind an outbox.Receiver. The primary is killed with SIGKILL
// while it dispatches; the new primary re-dispatches what was not acked.
// Every transfer reaches the endpoint's logic exactly once.
func TestProcessesOutboxSurvivesKillOfThePrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	var mu sync.Mutex
	applied := map[wire.Uint128]int{}
	deliveries := 0
	logic := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(body) != ledger.TransferSize {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var tr ledger.Transfer
		tr.Decode(body)
		mu.Lock()
		applied[tr.ID]++
		mu.Unlock()
	})
	rcv, err := outbox.OpenReceiver(filepath.Join(t.TempDir(), "receiver"), logic, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		deliveries++
		mu.Unlock()
		rcv.ServeHTTP(w, r)
	}))
	defer srv.Close()

	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	files := formatFiles(t, bin, dir, "0xfeed", 3)
	effects := "--effects-url=" + srv.URL
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = startProcess(t, bin, addresses, files[i], effects)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: 0xfeed}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var accounts []ledger.Account
	for i := 1; i <= 4; i++ {
		accounts = append(accounts, ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1})
	}
	if failed, err := cl.CreateAccounts(ctx, accounts); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	next := uint64(0)
	transfer := func(n int) {
		t.Helper()
		batch := make([]ledger.Transfer, 0, n)
		for range n {
			next++
			batch = append(batch, ledger.Transfer{ID: wire.Uint128{Lo: next}, DebitAccountID: wire.Uint128{Lo: next%4 + 1},
				CreditAccountID: wire.Uint128{Lo: (next+1)%4 + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1})
		}
		if failed, err := cl.CreateTransfers(ctx, batch); err != nil || len(failed) != 0 {
			t.Fatalf("transfers up to %d: %v %v", next, failed, err)
		}
	}
	for range 10 {
		transfer(20)
	}
	// Kill the primary while its dispatcher is (most likely) mid-flight.
	if err := procs[0].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[0].Wait()
	for range 5 {
		transfer(20)
	}
	procs[0] = startProcess(t, bin, addresses, files[0], effects)
	for range 5 {
		transfer(20)
	}
	want := int(next)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		distinct, dup := len(applied), wire.Uint128{}
		for id, n := range applied {
			if n > 1 {
				dup = id
			}
		}
		d := deliveries
		mu.Unlock()
		if !dup.IsZero() {
			t.Fatalf("transfer %v applied more than once", dup)
		}
		if distinct == want {
			t.Logf("%d effects applied exactly once; %d HTTP deliveries", want, d)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d effects applied after 30 s\nreplica 1 log:\n%s", distinct, want, procs[1].Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopAll(t, procs)
}
