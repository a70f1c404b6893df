package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// sliceStore is a statemachine.StableStore over a copy of the stable
// bytes a checkpoint would hold: held grows when the test says the
// durable checkpoint grew, bad makes one unit fail to read, and released
// counts the bytes the ledger gave back.
type sliceStore struct {
	unit     int
	held     int
	bytes    []byte
	bad      int // unit index that fails, -1 none
	reads    int
	released int
	// During Apply (applying), every unit read must have been read by
	// the prefetch since prefetchStart; missed counts those that were not.
	applying   bool
	prefetched map[int]bool
	missed     int
}

func (s *sliceStore) StableHeld() int { return s.held }
func (s *sliceStore) StableUnit() int { return s.unit }
func (s *sliceStore) ReadStable(dst []byte, from, to int) ([]byte, error) {
	if from < 0 || to < from || to > s.held {
		panic(fmt.Sprintf("read [%d, %d) beyond held %d", from, to, s.held))
	}
	s.reads++
	for u := from / s.unit; u <= (to-1)/s.unit; u++ {
		if s.applying && !s.prefetched[u] {
			s.missed++
		}
		if !s.applying && s.prefetched != nil {
			s.prefetched[u] = true
		}
	}
	if s.bad >= 0 && from/s.unit <= s.bad && (to-1)/s.unit >= s.bad {
		return dst, fmt.Errorf("unit %d: %w", s.bad, statemachine.ErrStableRead)
	}
	return append(dst, s.bytes[from:to]...), nil
}
func (s *sliceStore) VerifyStable(from int) error {
	_, err := s.ReadStable(nil, from, from+s.unit)
	return err
}
func (s *sliceStore) RepairStable(from int, b []byte) error {
	return fmt.Errorf("sliceStore: no repair: %w", statemachine.ErrStableRead)
}
func (s *sliceStore) Release(b []byte) {
	s.released += len(b)
	clear(b) // what the pages given back read as
}

// checkpoint makes the store hold the ledger's stable prefix, as a
// durable checkpoint would, in whole units.
func (s *sliceStore) checkpoint(l *Ledger) {
	seg, size := l.SnapshotStable()
	if seg != transfersSegment {
		panic("stable segment moved")
	}
	s.bytes = s.bytes[:0]
	var err error
	if s.bytes, err = l.ReadSnapshotRange(s.bytes, 0, size); err != nil {
		panic(err)
	}
	s.held = size / s.unit * s.unit
}

// TestGridBackedAnswersAsInMemory runs the same requests on a ledger that
// keeps everything in memory and on one that drops the transfers its
// store holds, with the store growing as checkpoints would make it:
// replies, digests and snapshots (outside the omitted bytes) are equal,
// memory is given back, and a restore that reads the omitted bytes from
// the store gives the same state.
func TestGridBackedAnswersAsInMemory(t *testing.T) {
	cfg := Config{AccountsMax: 64, TransfersMax: 4096}
	mem, grid := newHarness(t, cfg), newHarness(t, cfg)
	store := &sliceStore{unit: 7936, bad: -1} // the test preset's block payload: 62 transfers
	grid.l.SetStableStore(store)
	both := func(op wire.Operation, body []byte) {
		t.Helper()
		grid.l.PrefetchReset()
		store.prefetched = map[int]bool{}
		if err := grid.l.Prefetch(op, body); err != nil {
			t.Fatalf("prefetch: %v", err)
		}
		a := bytes.Clone(mem.apply(op, body))
		store.applying = true
		b := grid.apply(op, body)
		store.applying = false
		if store.missed > 0 {
			t.Fatalf("op %d: Apply read %d units its prefetch did not", op, store.missed)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("op %d: replies differ (%d and %d bytes)", op, len(a), len(b))
		}
	}
	var accounts []byte
	for i := uint64(1); i <= 16; i++ {
		a := account(i)
		a.Flags = AccountHistory
		accounts = AppendAccount(accounts, &a)
	}
	both(OperationCreateAccounts, accounts)
	rng := rand.New(rand.NewPCG(1, 2))
	next := uint64(1)
	for round := range 30 {
		var body []byte
		for range 1 + rng.IntN(100) {
			n := next
			if next > 1 && rng.IntN(8) == 0 {
				n = 1 + rng.Uint64N(next-1) // a repeated id: exists, read back
			} else {
				next++
			}
			tr := transfer(n, 1+rng.Uint64N(16), 1+rng.Uint64N(16), 1+rng.Uint64N(100))
			if tr.DebitAccountID == tr.CreditAccountID {
				tr.CreditAccountID = id(tr.DebitAccountID.Lo%16 + 1)
			}
			body = AppendTransfer(body, &tr)
		}
		both(OperationCreateTransfers, body)
		var ids []byte
		for range 20 {
			ids = appendUint128(ids, id(1+rng.Uint64N(next)))
		}
		both(OperationLookupTransfers, ids)
		for _, op := range []wire.Operation{OperationGetAccountTransfers, OperationGetAccountBalances} {
			f := AccountFilter{AccountID: id(1 + rng.Uint64N(16)), Flags: FilterDebits | FilterCredits, Limit: uint32(rng.IntN(40))}
			if rng.IntN(2) == 0 {
				f.Flags |= FilterReversed
			}
			if round > 0 && rng.IntN(2) == 0 {
				f.TimestampMin = 1000 + rng.Uint64N(grid.ctx.Timestamp)
			}
			both(op, AppendFilter(nil, &f))
		}
		if round%3 == 2 {
			store.checkpoint(grid.l)
		}
		if mem.l.Digest() != grid.l.Digest() {
			t.Fatalf("round %d: digests differ", round)
		}
	}
	if grid.l.StableOmitted() == 0 || store.released == 0 || store.reads == 0 {
		t.Fatalf("nothing dropped, given back or read back: omitted %d, released %d, reads %d", grid.l.StableOmitted(), store.released, store.reads)
	}
	t.Logf("%d of %d transfers dropped, %d reads", grid.l.TransfersCount()-grid.l.TransfersInMemory(), grid.l.TransfersCount(), store.reads)

	// One prepare: an account created, then a query of it whose timestamp
	// search reaches the dropped transfers. The prefetch, before the
	// account exists, still reads what that search reads.
	grid.l.PrefetchReset()
	store.prefetched = map[int]bool{}
	na := account(17)
	newAccount := AppendAccount(nil, &na)
	query := AppendFilter(nil, &AccountFilter{AccountID: id(17), TimestampMin: 1001, Flags: FilterDebits | FilterCredits})
	for _, req := range []struct {
		op   wire.Operation
		body []byte
	}{{OperationCreateAccounts, newAccount}, {OperationGetAccountTransfers, query}} {
		if err := grid.l.Prefetch(req.op, req.body); err != nil {
			t.Fatal(err)
		}
	}
	store.applying = true
	grid.apply(OperationCreateAccounts, newAccount)
	grid.apply(OperationGetAccountTransfers, query)
	store.applying = false
	if store.missed > 0 {
		t.Fatalf("a query of an account created in the same prepare read %d units its prefetch did not", store.missed)
	}
	mem.apply(OperationCreateAccounts, newAccount)

	// Snapshots agree outside the omitted bytes.
	var ends [4]int
	full, _ := mem.l.SnapshotOver(nil, ends[:0], 0, 0)
	part, _ := grid.l.SnapshotOver(make([]byte, 0, len(full)), ends[:0], 0, 0)
	cut := snapshotHeaderSize + grid.l.StableOmitted()
	if !bytes.Equal(full[:snapshotHeaderSize], part[:snapshotHeaderSize]) || !bytes.Equal(full[cut:], part[cut:]) {
		t.Fatal("snapshot differs outside the omitted bytes")
	}

	// A restore that reads the omitted transfers from the store, passing
	// them to its visitor in order.
	restored := newHarness(t, cfg)
	restored.l.SetStableStore(store)
	var visited []byte
	if err := restored.l.RestoreOmitting(part, grid.l.StableOmitted(), func(b []byte) { visited = append(visited, b...) }); err != nil {
		t.Fatal(err)
	}
	if restored.l.Digest() != mem.l.Digest() || restored.l.StableOmitted() != grid.l.StableOmitted() {
		t.Fatal("restored ledger differs")
	}
	if !bytes.Equal(visited, full[snapshotHeaderSize:cut]) {
		t.Fatalf("the restore visited %d bytes, not the %d omitted ones in order", len(visited), cut-snapshotHeaderSize)
	}

	// A unit that does not read back: Prefetch says so, Apply is not
	// reached; Restore fails with ErrStableRead.
	store.bad = 0
	grid.l.PrefetchReset()
	if err := grid.l.Prefetch(OperationLookupTransfers, appendUint128(nil, id(1))); !errors.Is(err, statemachine.ErrStableRead) {
		t.Fatalf("prefetch of a bad unit: %v", err)
	}
	again := newHarness(t, cfg)
	again.l.SetStableStore(store)
	if err := again.l.RestoreOmitting(part, grid.l.StableOmitted(), nil); !errors.Is(err, statemachine.ErrStableRead) {
		t.Fatalf("restore over a bad unit: %v", err)
	}
}

func appendUint128(b []byte, v wire.Uint128) []byte {
	var x [16]byte
	putUint128(x[:], v)
	return append(b, x[:]...)
}
