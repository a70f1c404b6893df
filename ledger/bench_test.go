package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// BenchmarkCreateTransfers applies batches of BatchMaxDefault (8188)
// transfers between 10,000 accounts; ns/transfer is reported per event.
// capacity=32M sizes the ledger for 32 M transfers (a 512 MiB id index, as
// a production ledger's: every insert misses the caches).
func BenchmarkCreateTransfers(b *testing.B) {
	b.Run("capacity=256k", func(b *testing.B) { benchCreateTransfers(b, 0) })
	b.Run("capacity=32M", func(b *testing.B) { benchCreateTransfers(b, 32<<20) })
}

func benchCreateTransfers(b *testing.B, capacity int) {
	const accounts = 10_000
	const batch = BatchMaxDefault
	const batches = 32
	l, as := benchLedgerCapacity(b, accounts, batches, capacity)
	bodies := make([][]byte, batches)
	for k := range bodies {
		bodies[k] = appendBenchTransfers(make([]byte, 0, batch*TransferSize), k, accounts, func(n uint64) uint64 { return 1 + n%100 })
	}
	reply := make([]byte, l.ReplySizeMax(OperationCreateTransfers, batch*TransferSize))
	ctx := statemachine.Context{Timestamp: 1 << 40}
	load := func() {
		l.Reset()
		loadAccounts(b, l, &ctx, as, reply)
	}
	load()
	b.SetBytes(batch * TransferSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%batches == 0 && i > 0 {
			b.StopTimer()
			load()
			b.StartTimer()
		}
		ctx.Timestamp += batch
		if n := l.Apply(&ctx, OperationCreateTransfers, bodies[i%batches], reply); n != 0 {
			b.Fatalf("batch %d: %d failures, first %v", i, n/EventResultSize, DecodeEventResult(reply))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/transfer")
}

// BenchmarkLookupAccounts looks up batches of BatchMaxDefault ids.
func BenchmarkLookupAccounts(b *testing.B) {
	const accounts = 10_000
	l, _ := New(Config{AccountsMax: accounts, TransfersMax: 1})
	var as, ids []byte
	for i := range uint64(accounts) {
		a := account(i + 1)
		as = AppendAccount(as, &a)
	}
	for i := range uint64(BatchMaxDefault) {
		ids = AppendID(ids, id(i*13%accounts+1))
	}
	reply := make([]byte, l.ReplySizeMax(OperationLookupAccounts, len(ids)))
	ctx := statemachine.Context{Timestamp: 1 << 40}
	loadAccounts(b, l, &ctx, as, reply)
	b.ReportAllocs()
	for b.Loop() {
		if n := l.Apply(&ctx, OperationLookupAccounts, ids, reply); n != len(reply) {
			b.Fatalf("lookup found %d of %d", n/AccountSize, BatchMaxDefault)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchMaxDefault), "ns/lookup")
}

// loadAccounts creates the encoded accounts in batches of at most
// BatchMaxDefault.
// benchLedger returns an empty ledger with room for accounts accounts and
// batches batches of BatchMaxDefault transfers, and those accounts encoded
// (ids 1..accounts) for loadAccounts.
func benchLedger(b *testing.B, accounts uint64, batches int) (*Ledger, []byte) {
	return benchLedgerCapacity(b, accounts, batches, 0)
}

// benchLedgerCapacity is benchLedger holding up to capacity transfers
// (0: the batches').
func benchLedgerCapacity(b *testing.B, accounts uint64, batches, capacity int) (*Ledger, []byte) {
	l, err := New(Config{AccountsMax: int(accounts), TransfersMax: max(capacity, BatchMaxDefault*batches)})
	if err != nil {
		b.Fatal(err)
	}
	var as []byte
	for i := range accounts {
		a := account(i + 1)
		as = AppendAccount(as, &a)
	}
	return l, as
}

// appendBenchTransfers appends batch k of BatchMaxDefault transfers between
// distinct accounts of 1..accounts, transfer n moving amount(n).
func appendBenchTransfers(dst []byte, k int, accounts uint64, amount func(n uint64) uint64) []byte {
	for i := range uint64(BatchMaxDefault) {
		n := uint64(k*BatchMaxDefault) + i
		tr := transfer(n+1, n%accounts+1, (n*7+3)%accounts+1, amount(n))
		if tr.DebitAccountID == tr.CreditAccountID {
			tr.CreditAccountID.Lo = tr.CreditAccountID.Lo%accounts + 1
		}
		dst = AppendTransfer(dst, &tr)
	}
	return dst
}

func loadAccounts(b *testing.B, l *Ledger, ctx *statemachine.Context, as []byte, reply []byte) {
	for len(as) > 0 {
		n := min(len(as), BatchMaxDefault*AccountSize)
		ctx.Timestamp += BatchMaxDefault
		if w := l.Apply(ctx, OperationCreateAccounts, as[:n], reply); w != 0 {
			b.Fatalf("create_accounts: %d failures, first %v", w/EventResultSize, DecodeEventResult(reply))
		}
		as = as[n:]
	}
}

// BenchmarkAccountTransfersRange queries 10 transfers in the middle of the
// history of an account that is on one side of each of 262,016 transfers
// (32 batches; account 1 pays accounts 2..10 and they pay it back), in
// both orders, and, for comparison, the same range as the 10 transfers
// after a walk from the head of the account's list (the cost without the
// jump pointers).
func BenchmarkAccountTransfersRange(b *testing.B) {
	const batches = 32
	l, err := New(Config{AccountsMax: 10, TransfersMax: BatchMaxDefault * batches})
	if err != nil {
		b.Fatal(err)
	}
	var as []byte
	for i := range uint64(10) {
		a := account(i + 1)
		as = AppendAccount(as, &a)
	}
	reply := make([]byte, QueryHeaderSize+BatchMaxDefault*TransferSize)
	ctx := statemachine.Context{Timestamp: 1 << 40}
	loadAccounts(b, l, &ctx, as, reply)
	body := make([]byte, 0, BatchMaxDefault*TransferSize)
	for k := range batches {
		body = body[:0]
		for i := range uint64(BatchMaxDefault) {
			n := uint64(k*BatchMaxDefault) + i + 1
			dr, cr := uint64(1), 2+n%9
			if n%2 == 0 {
				dr, cr = cr, dr
			}
			tr := transfer(n, dr, cr, 1)
			body = AppendTransfer(body, &tr)
		}
		ctx.Timestamp += BatchMaxDefault
		if n := l.Apply(&ctx, OperationCreateTransfers, body, reply); n != 0 {
			b.Fatalf("create_transfers: %v", DecodeEventResult(reply))
		}
	}
	mid := l.transfers[len(l.transfers)/2].Timestamp
	for _, bc := range []struct {
		name  string
		flags FilterFlags
	}{{"ascending", FilterDebits | FilterCredits}, {"descending", FilterDebits | FilterCredits | FilterReversed}} {
		f := AccountFilter{AccountID: id(1), TimestampMin: mid, TimestampMax: mid + 9, Flags: bc.flags}
		q := AppendFilter(nil, &f)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n := l.Apply(&ctx, OperationGetAccountTransfers, q, reply); n != QueryHeaderSize+10*TransferSize {
					b.Fatalf("reply %d bytes", n)
				}
			}
		})
	}
	b.Run("head-walk", func(b *testing.B) {
		lo, _, _ := l.slotRange(mid, mid+9)
		for b.Loop() {
			steps := 0
			for side := range 2 {
				ls, _ := l.listOf(side, 0)
				for p := l.firstAtLeast(ls, 0); p.c != 0 && l.slotAt(ls, p) < lo; p = l.nextEntry(ls, p) {
					steps++
				}
			}
			if steps != len(l.transfers)/2 {
				b.Fatalf("%d steps", steps)
			}
		}
	})
}
