package persist

import (
	"strings"
	"testing"

	"github.com/chronon-db/chronon/internal/allocs"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// TestAdapterWritePathDoesNotAllocate: queueing prepares, submitting them
// as a batch, the journal's completions (batch, then header flush) and
// delivering them allocate nothing in the adapter once it is warm — the
// path every prepare takes on every replica.
func TestAdapterWritePathDoesNotAllocate(t *testing.T) {
	base := r3Format(t)
	j, err := journal.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewAdapter(j, 8)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := wire.NewPool(4, journal.ConfigTest.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	var got reported
	parent := wire.RootPrepare(r3Cluster).Checksum
	op := uint64(0)
	// write journals two prepares as one batch and waits until both are
	// reported (batch, then the header flush).
	write := func() {
		for range 2 {
			op++
			msg, h := r3Prepare(op, 0, op-1, parent)
			parent = h.Checksum
			m, err := pool.Get()
			if err != nil {
				t.Fatal(err)
			}
			copy(m.Buffer, msg)
			w.WritePrepare(m)
			m.Unref() // the adapter holds its own reference
		}
		w.Submit()
		for i := 0; w.Busy(); i++ {
			if i > 100 {
				t.Fatal("the batch did not complete")
			}
			base.Tick()
		}
		w.Deliver(&got)
	}
	write() // warm: the adapter's slices reach their working size
	got.written = make([]uint64, 0, 64)
	n, stacks := allocs.Count("github.com/chronon-db/chronon/internal/persist", write)
	if n != 0 {
		t.Fatalf("%d allocations in the adapter:\n%s", n, strings.Join(stacks, "\n"))
	}
	if len(got.written) != 2 || got.written[0] != 3 || got.written[1] != 4 {
		t.Fatalf("reported %v, want ops 3 and 4", got.written)
	}
}
