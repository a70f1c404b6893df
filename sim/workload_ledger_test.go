package sim

import (
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// TestLedgerReadChecks feeds the ledger workload's read checks correct
// replies and replies with one thing wrong each: a missing acknowledged
// transfer, a changed field, a transfer never created, records out of
// order, a gap in a history, balances that skip.
func TestLedgerReadChecks(t *testing.T) {
	a := &ledgerAudit{}
	a.init()
	w := &ledgerClient{audit: a, accounts: true}
	mk := func(lo, debit, credit uint64, ts uint64) ledger.Transfer {
		tr := ledger.Transfer{ID: wire.Uint128{Lo: lo, Hi: 5 << 32}, DebitAccountID: wire.Uint128{Lo: debit}, CreditAccountID: wire.Uint128{Lo: credit},
			Amount: wire.Uint128{Lo: 1}, UserData64: lo * 7, Ledger: 1, Code: 1}
		a.sent[tr.ID] = tr
		a.acked = append(a.acked, tr.ID)
		a.state[tr.ID] = transferAcked
		tr.Timestamp = ts
		return tr
	}
	t1, t2, t3 := mk(1, 1, 2, 10), mk(2, 2, 1, 20), mk(3, 1, 3, 30)
	never := wire.Uint128{Lo: 99, Hi: 1}
	recs := func(ts ...ledger.Transfer) []byte {
		var b []byte
		for i := range ts {
			b = ledger.AppendTransfer(b, &ts[i])
		}
		return b
	}
	lookup := ledgerInput{op: ledger.OperationLookupTransfers, lookup: []wire.Uint128{t1.ID, never, t2.ID}, must: []int8{1, -1, 1}}
	changed := t2
	changed.Amount.Lo = 2
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"right", recs(t1, t2), true},
		{"missing", recs(t1), false},
		{"changed", recs(t1, changed), false},
		{"reordered", recs(t2, t1), false},
		{"never created", recs(t1, ledger.Transfer{ID: never, Timestamp: 5}, t2), false},
	} {
		got := w.checkLookup(&lookup, c.body)
		if (got == nil) != c.ok || (got != nil && invariantOf(got) != InvariantLedgerRead) {
			t.Errorf("lookup %s: %v", c.name, got)
		}
	}
	// Account 1's history: t1 (debit), t2 (credit), t3 (debit).
	reply := func(more bool, body []byte) []byte {
		h := make([]byte, ledger.QueryHeaderSize)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(body)/ledger.TransferSize))
		if more {
			h[8] = 1
		}
		return append(h, body...)
	}
	both := ledger.AccountFilter{AccountID: wire.Uint128{Lo: 1}, Flags: ledger.FilterDebits | ledger.FilterCredits}
	limited := both
	limited.Limit = 2
	debits := both
	debits.Flags = ledger.FilterDebits
	ranged := both
	ranged.TimestampMin, ranged.TimestampMax = 15, 25
	reversed := both
	reversed.Flags |= ledger.FilterReversed
	for _, c := range []struct {
		name string
		f    ledger.AccountFilter
		body []byte
		ok   bool
	}{
		{"all", both, reply(false, recs(t1, t2, t3)), true},
		{"page", limited, reply(true, recs(t1, t2)), true},
		{"reversed", reversed, reply(false, recs(t3, t2, t1)), true},
		{"range", ranged, reply(false, recs(t2)), true},
		{"debits", debits, reply(false, recs(t1, t3)), true},
		{"gap", both, reply(false, recs(t1, t3)), false},
		{"gap in a page", limited, reply(true, recs(t1, t3)), false},
		{"above the limit", limited, reply(false, recs(t1, t2, t3)), false},
		{"order", both, reply(false, recs(t2, t1, t3)), false},
		{"outside the range", ranged, reply(false, recs(t2, t3)), false},
		{"other side", debits, reply(false, recs(t1, t2, t3)), false},
		{"changed", both, reply(false, recs(t1, changed, t3)), false},
	} {
		in := ledgerInput{op: ledger.OperationGetAccountTransfers, filter: c.f, acked: len(a.acked)}
		got := w.checkQuery(&in, c.body)
		if (got == nil) != c.ok || (got != nil && invariantOf(got) != InvariantLedgerRead) {
			t.Errorf("get_account_transfers %s: %v", c.name, got)
		}
	}
	bal := func(tr ledger.Transfer, d, cr uint64) []byte {
		b := ledger.AccountBalance{DebitsPosted: wire.Uint128{Lo: d}, CreditsPosted: wire.Uint128{Lo: cr}, Timestamp: tr.Timestamp, TransferID: tr.ID}
		out := make([]byte, ledger.AccountBalanceSize)
		b.Encode(out)
		return out
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    ledger.AccountFilter
		body []byte
		ok   bool
	}{
		{"all", both, reply(false, cat(bal(t1, 1, 0), bal(t2, 1, 1), bal(t3, 2, 1))), true},
		{"reversed", reversed, reply(false, cat(bal(t3, 2, 1), bal(t2, 1, 1), bal(t1, 1, 0))), true},
		{"skips", both, reply(false, cat(bal(t1, 1, 0), bal(t2, 1, 2), bal(t3, 2, 2))), false},
		{"gap", both, reply(false, cat(bal(t1, 1, 0), bal(t3, 2, 1))), false},
	} {
		in := ledgerInput{op: ledger.OperationGetAccountBalances, filter: c.f, acked: len(a.acked)}
		got := w.checkQuery(&in, c.body)
		if (got == nil) != c.ok || (got != nil && invariantOf(got) != InvariantLedgerRead) {
			t.Errorf("get_account_balances %s: %v", c.name, got)
		}
	}
	// Account 3 keeps no history.
	in := ledgerInput{op: ledger.OperationGetAccountBalances, filter: ledger.AccountFilter{AccountID: wire.Uint128{Lo: 3}, Flags: ledger.FilterDebits}}
	if err := w.checkQuery(&in, reply(false, nil)); invariantOf(err) != InvariantLedgerRead {
		t.Errorf("get_account_balances of an account without history answered ok: %v", err)
	}
}

// TestGridReadsExercised runs ledger seeds 1..30 (20 with -short) and
// requires the paths of the transfers kept in the grid to be taken:
// replicas drop transfers, the workload's reads of old transfers go to
// the grid, some of those reads fail on a damaged block (the replica
// stalls, asks a peer and retries) and blocks are repaired. A workload
// that stopped reading old transfers, or a fault mix that stopped
// damaging the blocks they are read from, fails it.
func TestGridReadsExercised(t *testing.T) {
	n := uint64(30)
	if testing.Short() {
		n = 20
	}
	var total Stats
	dropping := 0
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed, Workload: WorkloadLedger})
		if r.Failed() {
			t.Errorf("%s", r.Report())
		}
		if r.Stats.Grid.Dropped > 0 {
			dropping++
		}
		total.Add(&r.Stats)
	}
	g := &total.Grid
	t.Logf("seeds 1..%d: %d dropped transfers; reads from the grid %d (failed %d), prefetches failed %d, repaired %d, replies checked %d (transfers %d)",
		n, dropping, g.Reads, g.ReadsFailed, g.PrefetchFailed, g.Repaired, g.RepliesChecked, g.TransfersFound)
	if dropping < int(n)/2 {
		t.Errorf("only %d of %d seeds dropped transfers from memory", dropping, n)
	}
	for _, c := range []struct {
		what string
		n    uint64
	}{
		{"read replies checked", g.RepliesChecked},
		{"reads of dropped transfers from the grid", g.Reads},
		{"failed prefetches of such reads", g.ReadsFailed},
		{"failed prefetches", g.PrefetchFailed},
		{"stable blocks repaired", g.Repaired},
	} {
		if c.n == 0 {
			t.Errorf("seeds 1..%d: no %s", n, c.what)
		}
	}
}
