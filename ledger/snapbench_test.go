package ledger

import (
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// BenchmarkSnapshot measures a checkpoint's snapshot of a ledger with
// 10,000 accounts and about 1.3 M transfers (the demo's state at its first
// checkpoint), into a reused buffer and into a fresh one.
func BenchmarkSnapshot(b *testing.B) {
	const accounts = 10_000
	const batch = BatchMaxDefault
	const batches = 160
	l, as := benchLedger(b, accounts, batches)
	reply := make([]byte, l.ReplySizeMax(OperationCreateTransfers, batch*TransferSize))
	ctx := statemachine.Context{Timestamp: 1 << 40}
	loadAccounts(b, l, &ctx, as, reply)
	body := make([]byte, 0, batch*TransferSize)
	for k := range batches {
		body = appendBenchTransfers(body[:0], k, accounts, func(uint64) uint64 { return 1 })
		ctx.Timestamp += batch
		if n := l.Apply(&ctx, OperationCreateTransfers, body, reply); n != 0 {
			b.Fatalf("batch %d failed", k)
		}
	}
	b.Run("reused", func(b *testing.B) {
		buf := l.Snapshot(nil)
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			buf = l.Snapshot(buf[:0])
		}
	})
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(l.Snapshot(nil))))
		for b.Loop() {
			_ = l.Snapshot(nil)
		}
	})
}
