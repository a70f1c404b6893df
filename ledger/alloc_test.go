package ledger

import (
	"strings"
	"testing"

	"github.com/chronon-db/chronon/internal/allocs"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// transferBatch encodes n transfers with ids from first, alternating
// between accounts 1 → 2 and 2 → 1.
func transferBatch(first uint64, n int) []byte {
	body := make([]byte, 0, n*TransferSize)
	for i := range uint64(n) {
		tr := transfer(first+i, 1+i%2, 2-i%2, 1)
		body = AppendTransfer(body, &tr)
	}
	return body
}

func TestApplyDoesNotAllocate(t *testing.T) {
	const batch, runs = 64, 50
	h := newHarness(t, Config{AccountsMax: 8, TransfersMax: batch * (runs + 2)})
	h.createAccounts(account(1), account(2))
	bodies := make([][]byte, runs+2)
	for i := range bodies {
		bodies[i] = transferBatch(uint64(i*batch+1), batch)
	}
	reply := make([]byte, h.l.ReplySizeMax(OperationCreateTransfers, batch*TransferSize))
	ctx := statemachine.Context{Timestamp: h.ctx.Timestamp}
	run := 0
	per := testing.AllocsPerRun(runs, func() {
		ctx.Timestamp += batch
		if n := h.l.Apply(&ctx, OperationCreateTransfers, bodies[run], reply); n != 0 {
			t.Fatalf("create_transfers failed: %v", decodeResults(t, reply[:n]))
		}
		run++
	})
	if per != 0 {
		t.Fatalf("create_transfers: %v allocs per batch", per)
	}

	ids := make([]byte, 0, 4*IDSize)
	ids = AppendID(ids, id(1))
	ids = AppendID(ids, id(2))
	ids = AppendID(ids, id(3))
	lookup := make([]byte, h.l.ReplySizeMax(OperationLookupTransfers, len(ids)))
	for _, op := range []OperationPair{
		{OperationLookupAccounts, 2 * AccountSize},
		{OperationLookupTransfers, 3 * TransferSize},
	} {
		per = testing.AllocsPerRun(100, func() {
			if n := h.l.Apply(&ctx, op.op, ids, lookup); n != op.want {
				t.Fatalf("%s: reply %d bytes, want %d", OperationName(op.op), n, op.want)
			}
		})
		if per != 0 {
			t.Fatalf("%s: %v allocs", OperationName(op.op), per)
		}
	}
	// Queries, including a narrow range in the middle of the history.
	mid := h.l.transfers[h.l.TransfersCount()/2].Timestamp
	for _, q := range []struct {
		op   wire.Operation
		f    AccountFilter
		want int
	}{
		{OperationGetAccountTransfers, AccountFilter{AccountID: id(1), Flags: FilterDebits | FilterCredits}, QueryHeaderSize + 10*TransferSize},
		{OperationGetAccountTransfers, AccountFilter{AccountID: id(2), Flags: FilterCredits | FilterReversed, TimestampMin: mid, TimestampMax: mid + 3}, QueryHeaderSize + 2*TransferSize},
		{OperationGetAccountBalances, AccountFilter{AccountID: id(1), Flags: FilterDebits}, QueryHeaderSize},
	} {
		body := AppendFilter(nil, &q.f)
		out := make([]byte, QueryHeaderSize+10*TransferSize)
		per = testing.AllocsPerRun(100, func() {
			if n := h.l.Apply(&ctx, q.op, body, out); n != q.want {
				t.Fatalf("%s: reply %d bytes, want %d", OperationName(q.op), n, q.want)
			}
		})
		if per != 0 {
			t.Fatalf("%s: %v allocs", OperationName(q.op), per)
		}
	}
	var accounts []byte
	for i := range uint64(4) {
		a := account(10 + i)
		accounts = AppendAccount(accounts, &a)
	}
	n, stacks := allocs.Count("github.com/chronon-db/chronon/ledger", func() {
		ctx.Timestamp += 4
		h.l.Apply(&ctx, OperationCreateAccounts, accounts, reply)
	})
	if n != 0 || h.l.AccountsCount() != 6 {
		t.Fatalf("create_accounts: %d allocs, %d accounts:\n%s", n, h.l.AccountsCount(), strings.Join(stacks, "\n"))
	}
}

// OperationPair is an operation with its expected reply size.
type OperationPair struct {
	op   wire.Operation
	want int
}

// TestFillToCapacityDoesNotAllocate checks that the preallocated indexes do
// not grow while the ledger fills up to exactly its capacity (the first fill,
// which AllocsPerRun's warm-up run would hide), counting the ledger's own
// allocations (MemStats counts the runtime's too: internal/allocs).
func TestFillToCapacityDoesNotAllocate(t *testing.T) {
	const accounts, transfers = 1000, 5000
	h := newHarness(t, Config{AccountsMax: accounts, TransfersMax: transfers})
	var as []byte
	for i := range uint64(accounts) {
		a := account(i + 1)
		a.Flags = AccountHistory // the balance history fills to its capacity too
		as = AppendAccount(as, &a)
	}
	ts := transferBatch(1, transfers)
	reply := make([]byte, h.l.ReplySizeMax(OperationCreateTransfers, len(ts)))
	ctx := statemachine.Context{Timestamp: 1 << 40}
	var failed int
	n, stacks := allocs.Count("github.com/chronon-db/chronon/ledger", func() {
		failed = h.l.Apply(&ctx, OperationCreateAccounts, as, reply)
		ctx.Timestamp += transfers
		failed += h.l.Apply(&ctx, OperationCreateTransfers, ts, reply)
	})
	if failed != 0 || h.l.AccountsCount() != accounts || h.l.TransfersCount() != transfers {
		t.Fatalf("fill failed: reply %d, %d accounts, %d transfers", failed, h.l.AccountsCount(), h.l.TransfersCount())
	}
	if n != 0 {
		t.Fatalf("%d allocations while filling to capacity:\n%s", n, strings.Join(stacks, "\n"))
	}
	if len(h.l.chunks) > cap(h.l.chunks) || cap(h.l.chunks) != chunksMax(transfers) || len(h.l.chunks) < chunksMax(transfers)-2*accounts {
		t.Fatalf("%d history chunks of %d", len(h.l.chunks), cap(h.l.chunks))
	}
}
