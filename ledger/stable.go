package ledger

import (
	"fmt"
	"unsafe"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Transfers in the grid (statemachine.GridBacked). With a store, the
// transfers the durable checkpoint holds (the store's StableHeld, rounded
// down to whole transfers and whole store units) are dropped from memory:
// slots below evicted are read back through the store, a 128-byte record
// at a time (the store caches whole blocks). Everything else — accounts,
// the id indexes, the history index and the transfers created since the
// durable checkpoint — stays in memory.
//
// Reads happen in Prefetch only. Before the replica applies a prepare,
// Prefetch performs every read applying its requests will do (each read
// verifies its block against the checkpoint's checksums) and copies the
// records into a table of PrefetchCapacity records; a failure is an error,
// so the replica applies nothing and tries again later (after repairing
// the block from a peer). Apply then finds every dropped transfer it reads
// in that table. The primary keeps each prepare's PrefetchCost within the
// table; a prepare that still overflows it (another primary's) is applied
// reading through the store, where a failed read panics.

var _ statemachine.GridBacked = (*Ledger)(nil)

// SetStableStore implements statemachine.GridBacked.
func (l *Ledger) SetStableStore(s statemachine.StableStore) {
	if l.evicted > 0 {
		// Another store (a restarted replica): the state it drops is
		// restored again from it.
		l.Reset()
	}
	invariants.Assert(l.evicted == 0, "ledger: store changed after transfers were dropped")
	l.store = s
	if s == nil {
		return
	}
	u := s.StableUnit()
	if u <= 0 {
		panic(fmt.Sprintf("ledger: stable store unit %d", u))
	}
	// Evict whole transfers and whole store units: their least common
	// multiple.
	a, b := u, TransferSize
	for b != 0 {
		a, b = b, a%b
	}
	l.evictUnit = u / a * TransferSize
	l.unitBuf = make([]byte, 0, l.evictUnit)
	l.fetched = newFetchTable(l.PrefetchCapacity())
	invariants.Assert(l.evictUnit%TransferSize == 0 && l.evictUnit%u == 0, "ledger: eviction unit not a multiple of the store's and the record's")
}

// StableOmitted implements statemachine.GridBacked.
func (l *Ledger) StableOmitted() int { return l.evicted * TransferSize }

// TransfersInMemory returns the number of transfers held in memory (the
// others are read through the stable store).
func (l *Ledger) TransfersInMemory() int { return len(l.transfers) - l.evicted }

// evict drops from memory the transfers the store now holds durably. It
// runs only at PrefetchReset, between prepares.
func (l *Ledger) evict() {
	if l.store == nil {
		return
	}
	// The store's prefix may be longer than the ledger's transfers: a
	// replica that could not restore its checkpoint replays the log from
	// an earlier state. Both are prefixes of the same committed log.
	held := min(l.store.StableHeld(), len(l.transfers)*TransferSize)
	n := held / l.evictUnit * l.evictUnit / TransferSize
	if n <= l.evicted {
		return
	}
	invariants.Assert(n <= len(l.transfers), "ledger: dropping more transfers than the ledger holds")
	l.dropTransfers(n)
}

// dropTransfers gives the memory of transfers [evicted, n) back.
func (l *Ledger) dropTransfers(n int) {
	invariants.Assert(n > l.evicted && n <= len(l.transfers), "ledger: drop of transfers out of range")
	// Start a page before the last drop's end: ReleaseMemory keeps the
	// partial pages at the edges, and the one at that end is whole now.
	from := max(0, l.evicted-pageTransfers)
	l.store.Release(transferBytes(l.transfers[from:n]))
	l.evicted = n
}

// heldOrZero returns the store's StableHeld, 0 without a store.
func (l *Ledger) heldOrZero() int {
	if l.store == nil {
		return 0
	}
	return l.store.StableHeld()
}

// pageTransfers is the transfers in the largest memory page size a Release
// rounds to (64 KiB).
const pageTransfers = 64 << 10 / TransferSize

func transferBytes(ts []Transfer) []byte {
	if len(ts) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&ts[0])), len(ts)*int(unsafe.Sizeof(Transfer{})))
}

// readTransfer returns the transfer in slot: in memory, prefetched, or
// read through the store into one of the scratch records (valid until
// scratchRecords more reads) and, while prefetching, copied into the
// prefetch table.
func (l *Ledger) readTransfer(slot uint32) (*Transfer, error) {
	if int(slot) >= l.evicted {
		invariants.Assert(int(slot) < len(l.transfers), "ledger: read of a transfer slot beyond the count")
		return &l.transfers[slot], nil
	}
	if t := l.fetched.get(slot); t != nil {
		return t, nil
	}
	t, err := l.readStored(slot)
	if err != nil || !l.prefetching {
		return t, err
	}
	if f := l.fetched.put(slot, t); f != nil {
		return f, nil
	}
	l.fetchedOverflow = true
	return t, nil
}

// readStored reads the transfer in slot through the store into a scratch
// record.
func (l *Ledger) readStored(slot uint32) (*Transfer, error) {
	from := int(slot) * TransferSize
	b, err := l.store.ReadStable(l.readBuf[:0], from, from+TransferSize)
	if err != nil {
		return nil, fmt.Errorf("ledger: transfer slot %d: %w", slot, err)
	}
	invariants.Assert(len(b) == TransferSize, "ledger: stable read of another length than a record")
	l.scratchNext = (l.scratchNext + 1) % scratchRecords
	t := &l.scratch[l.scratchNext]
	t.Decode(b)
	return t, nil
}

// scratchRecords is how many transfers read back stay valid at once.
const scratchRecords = 4

// transferAt returns the transfer in slot: in memory or in the prefetch
// table for Apply (read through the store only for a prepare beyond the
// table), read through the store while prefetching (a failure is kept in
// prefetchErr).
func (l *Ledger) transferAt(slot uint32) *Transfer {
	if l.prefetching {
		t, err := l.readTransfer(slot)
		if err != nil {
			if l.prefetchErr == nil {
				l.prefetchErr = err
			}
			l.scratch[0] = Transfer{}
			return &l.scratch[0]
		}
		return t
	}
	if int(slot) >= l.evicted {
		return &l.transfers[slot]
	}
	if t := l.fetched.get(slot); t != nil {
		return t
	}
	invariants.Assert(l.fetchedOverflow, "ledger: Apply reads a dropped transfer its prefetch did not read")
	t, err := l.readStored(slot)
	if err != nil {
		// Only a prepare beyond the prefetch table reads here.
		panic(fmt.Sprintf("ledger: a transfer beyond the prefetch table could not be read back: %v", err))
	}
	return t
}

// PrefetchReset implements statemachine.GridBacked: it also drops the
// transfers the store has come to hold since the last prepare.
func (l *Ledger) PrefetchReset() {
	l.prefetchErr = nil
	l.fetched.reset()
	l.fetchedOverflow = false
	l.evict()
}

// Prefetch implements statemachine.GridBacked: it performs the reads of
// evicted transfers that applying the request to the state before the
// prepare would do. Requests before it in the same prepare only add
// transfers (in memory) and history entries after the ones read, so they
// never make a later request read an evicted transfer this pass did not.
func (l *Ledger) Prefetch(operation wire.Operation, input []byte) error {
	if l.evicted == 0 {
		return nil
	}
	l.prefetching = true
	defer func() { l.prefetching = false }()
	switch {
	case isQuery(operation):
		l.query(operation, input, nil)
	case operation == OperationCreateTransfers || operation == OperationLookupTransfers:
		size := TransferSize
		if operation == OperationLookupTransfers {
			size = IDSize
		}
		if _, err := events(l.cfg.BatchMax, operation, input); err != nil {
			return nil
		}
		for i := 0; i+size <= len(input); i += size {
			if slot, ok := l.transferIndex.get(getUint128(input[i:])); ok && int(slot) < l.evicted {
				l.transferAt(slot)
			}
		}
	}
	if l.prefetchErr != nil {
		return fmt.Errorf("%w: %w", statemachine.ErrStableRead, l.prefetchErr)
	}
	return nil
}

// ScrubStable implements statemachine.GridBacked.
func (l *Ledger) ScrubStable(from int) (int, error) {
	if l.store == nil || l.evicted == 0 {
		return 0, nil
	}
	unit := l.store.StableUnit()
	omitted := l.evicted * TransferSize
	if from < 0 || from%unit != 0 || from >= omitted {
		from = 0
	}
	if err := l.store.VerifyStable(from); err != nil {
		return from, err
	}
	if from += unit; from >= omitted {
		from = 0
	}
	return from, nil
}

// RepairStable implements statemachine.GridBacked.
func (l *Ledger) RepairStable(from int, b []byte) error {
	if l.store == nil {
		return statemachine.ErrStableRead
	}
	return l.store.RepairStable(from, b)
}

// ReadSnapshotRange implements statemachine.GridBacked.
func (l *Ledger) ReadSnapshotRange(dst []byte, from, to int) ([]byte, error) {
	if from < 0 || to < from || to > len(l.transfers)*TransferSize {
		panic(fmt.Sprintf("ledger: snapshot range [%d, %d) of %d transfers", from, to, len(l.transfers)))
	}
	if cut := l.evicted * TransferSize; from < cut {
		var err error
		if dst, err = l.store.ReadStable(dst, from, min(to, cut)); err != nil {
			return dst, fmt.Errorf("%w: %w", statemachine.ErrStableRead, err)
		}
		from = min(to, cut)
	}
	return l.AppendSnapshotRange(dst, from, to), nil
}

// fetchTable holds the dropped transfers a prepare's prefetch read, by
// slot: open addressing over a power-of-two table at most half full, its
// entries valid for the current generation only (reset is O(1)).
type fetchTable struct {
	slots []uint32 // slot + 1
	gens  []uint32
	recs  []Transfer
	gen   uint32
	n     int
	max   int
	mask  uint32
}

func newFetchTable(capacity int) fetchTable {
	size := 2
	for size < 2*capacity {
		size *= 2
	}
	return fetchTable{slots: make([]uint32, size), gens: make([]uint32, size), recs: make([]Transfer, size),
		gen: 1, max: capacity, mask: uint32(size - 1)}
}

func (f *fetchTable) reset() {
	f.n = 0
	f.gen++
	if f.gen == 0 { // wrapped: clear the stale generations once
		clear(f.gens)
		f.gen = 1
	}
}

func (f *fetchTable) pos(slot uint32) uint32 { return (slot * 0x9e3779b1) & f.mask }

// get returns the record of slot fetched since the last reset, or nil.
func (f *fetchTable) get(slot uint32) *Transfer {
	if f.n == 0 {
		return nil
	}
	for i := f.pos(slot); f.gens[i] == f.gen; i = (i + 1) & f.mask {
		if f.slots[i] == slot+1 {
			return &f.recs[i]
		}
	}
	return nil
}

// put copies t as slot's record and returns it, or nil when the table
// holds its capacity.
func (f *fetchTable) put(slot uint32, t *Transfer) *Transfer {
	if f.n == f.max {
		return nil
	}
	i := f.pos(slot)
	for ; f.gens[i] == f.gen; i = (i + 1) & f.mask {
		invariants.Assert(f.slots[i] != slot+1, "ledger: a transfer prefetched twice")
	}
	f.gens[i], f.slots[i], f.recs[i] = f.gen, slot+1, *t
	f.n++
	return &f.recs[i]
}

// PrefetchCapacity implements statemachine.GridBacked: the records the
// prefetch table holds. Every valid request's PrefetchCost fits it.
func (l *Ledger) PrefetchCapacity() int {
	// A prepare of message_size_max holds at most that many ids (lookups)
	// or events; a query reads up to a reply's records and its searches.
	return 8*l.cfg.BatchMax + queryProbesMax
}

// queryProbesMax bounds the records a query's two timestamp searches read
// (binary searches over up to 2^32 transfers) plus the one after the range.
const queryProbesMax = 2*33 + 2

// PrefetchCost implements statemachine.GridBacked: the most dropped
// transfers applying the request may read.
func (l *Ledger) PrefetchCost(operation wire.Operation, input []byte) int {
	switch {
	case isQuery(operation):
		return l.cfg.BatchMax + 1 + queryProbesMax
	case operation == OperationCreateTransfers:
		return len(input) / TransferSize
	case operation == OperationLookupTransfers:
		return len(input) / IDSize
	}
	return 0
}
