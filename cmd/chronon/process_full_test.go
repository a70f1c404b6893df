package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// TestProcessesLedgerFullKeepsServing fills the ledger of a test-preset
// cluster of three `chronon start` processes to capacity, then keeps
// sending transfers for more than two checkpoint intervals: every replica
// keeps running (no panic at a checkpoint), refuses the transfers that do
// not fit with ResultFull, counts them in its metrics, and keeps answering
// lookups.
func TestProcessesLedgerFullKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	procs := make([]*process, 3)
	for i, file := range formatFiles(t, bin, dir, "0xf011", 3) {
		procs[i] = startProcess(t, bin, addresses, file, "--metrics=127.0.0.1:0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: 0xf011}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if failed, err := cl.CreateAccounts(ctx, []ledger.Account{{ID: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}, {ID: wire.Uint128{Lo: 2}, Ledger: 1, Code: 1}}); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	alive := func() {
		t.Helper()
		for i, p := range procs {
			if !p.Running() || strings.Contains(p.Out.String(), "panic") {
				t.Fatalf("replica %d died:\n%s", i, p.Out.String())
			}
		}
	}
	next, created, refused := uint64(0), uint64(0), 0
	send := func(n int) {
		t.Helper()
		batch := make([]ledger.Transfer, n)
		for i := range batch {
			next++
			batch[i] = ledger.Transfer{ID: wire.Uint128{Lo: next}, DebitAccountID: wire.Uint128{Lo: 1},
				CreditAccountID: wire.Uint128{Lo: 2}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
		}
		failed, err := cl.CreateTransfers(ctx, batch)
		if err != nil {
			alive()
			t.Fatalf("transfers up to %d (%d created): %v", next, created, err)
		}
		for _, f := range failed {
			if f.Result != ledger.ResultFull {
				t.Fatalf("transfer %d: %v, want full", next-uint64(n)+uint64(f.Index)+1, f.Result)
			}
		}
		created += uint64(n - len(failed))
		refused += len(failed)
	}
	// Fill the ledger: batches until one is refused in part.
	batchMax := ledger.BatchMaxFor(wire.MessageSizeMaxTest)
	for refused == 0 {
		if next > 1_000_000 {
			t.Fatalf("no transfer refused after %d", next)
		}
		send(batchMax)
	}
	t.Logf("ledger full after %d transfers", created)
	// Well over two checkpoint intervals of the test preset (64 WAL slots)
	// of requests that are all refused.
	for range 160 {
		send(1)
	}
	if created+uint64(refused) != next {
		t.Fatalf("created %d + refused %d != %d sent", created, refused, next)
	}
	alive()
	got, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}, {Lo: 2}})
	if err != nil || len(got) != 2 || got[0].DebitsPosted.Lo != created || got[1].CreditsPosted.Lo != created {
		t.Fatalf("accounts after %d transfers: %+v %v", created, got, err)
	}
	trs, err := cl.LookupTransfers(ctx, []wire.Uint128{{Lo: 1}, {Lo: created}, {Lo: created + 1}})
	if err != nil || len(trs) != 2 {
		t.Fatalf("lookup transfers: %+v %v", trs, err)
	}
	// Backups may still be applying the last ops, and every process
	// publishes its metrics once per tick: wait for the counters. Records
	// are replicated state; refusals are counted by each process as it
	// applies ops, so a backup that copied a checkpoint (state sync)
	// counts fewer — but never more, and some replica applied them all.
	refusedMax, synced := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		refusedMax, synced = 0, 0
		settled := true
		for i, p := range procs {
			m := scrapeMetrics(t, p)
			if got := m["chronon_state_machine_refused_full_total"]; got > refused {
				t.Fatalf("replica %d counted %d refused transfers, %d were refused", i, got, refused)
			}
			if m["chronon_state_machine_records"] != int(created)+2 || m["chronon_state_machine_records_max"] <= m["chronon_state_machine_records"] {
				settled = false
				if time.Now().After(deadline) {
					t.Fatalf("replica %d: state machine metrics (want records %d): %v", i, created+2, m)
				}
			}
			refusedMax = max(refusedMax, m["chronon_state_machine_refused_full_total"])
			synced += m["chronon_replica_syncs_done_total"]
		}
		if settled && (refusedMax == refused || time.Now().After(deadline)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every replica that applied every op counted every refusal; on a
	// loaded machine a view change can leave none that did (a backup that
	// fell behind copies a checkpoint, then becomes the primary).
	if refusedMax != refused && synced == 0 {
		t.Fatalf("no replica counted the %d refused transfers (at most %d), and none copied a checkpoint", refused, refusedMax)
	}
	if refusedMax == 0 {
		t.Fatalf("no replica counted any of the %d refused transfers", refused)
	}
	alive()
	stopAll(t, procs)
}
