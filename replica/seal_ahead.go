package replica

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Sealing ahead. A checkpoint's sync manifest needs the checksum of every
// chunk that changed since the last checkpoint; the chunks inside the
// state machine's stable prefix (statemachine.StableSnapshot) never change
// once the prefix covers them whole, and every later checkpoint holds them
// at the same place. Between checkpoints the replica checksums those
// chunks a few a tick (sealAheadPerTick), so that the checkpoint takes
// their entries instead of hashing them all at its op.

// sealAheadPerTick bounds the chunks checksummed ahead per tick: 2 MiB a
// 10 ms tick with 1 MiB chunks, well above the stable prefix's growth.
const sealAheadPerTick = 2

// sealAhead holds the manifest entries computed ahead: those of chunks
// [lo, hi) of a checkpoint blob whose stable prefix starts at blob offset
// at, indexed by chunk (sums has an entry's room for every chunk of the
// largest checkpoint).
type sealAhead struct {
	at, lo, hi uint64
	sums       []byte
}

// entry returns the entry computed ahead for chunk i of a blob whose
// stable prefix starts at at, if any.
func (a *sealAhead) entry(at, i uint64) ([]byte, bool) {
	if a == nil || a.at != at || i < a.lo || i >= a.hi {
		return nil, false
	}
	invariants.Assert(uint64(len(a.sums)) >= a.hi*wire.SyncManifestEntrySize, "replica: sealed-ahead entry beyond its buffer")
	return a.sums[i*wire.SyncManifestEntrySize : (i+1)*wire.SyncManifestEntrySize], true
}

// sealAheadStep checksums up to sealAheadPerTick chunks that the stable
// prefix now covers whole and that the checkpoint taken here last did not
// hold whole (the next one keeps those from its manifest).
func (r *Replica) sealAheadStep() {
	s, ok := r.sm.(statemachine.StableSnapshot)
	if !ok || r.cp.stableLo == 0 || r.cp.snapLen == 0 || cap(r.ahead.sums) == 0 {
		return
	}
	chunk := r.syncChunkSize()
	at := r.cp.stableLo
	_, size := s.SnapshotStable()
	end := at + uint64(size)
	// The first chunk the next checkpoint does not keep: the one holding
	// the last stable prefix's end (or its start).
	first := max(r.cp.stableHi/chunk, (at+chunk-1)/chunk)
	if r.ahead.at != at || r.ahead.hi < first || r.ahead.lo > first {
		r.ahead.at, r.ahead.lo, r.ahead.hi = at, first, first
	}
	r.ahead.lo = first
	for range sealAheadPerTick {
		i := r.ahead.hi
		lo, hi := i*chunk, (i+1)*chunk
		if hi > end || hi*wire.SyncManifestEntrySize/chunk > uint64(cap(r.ahead.sums)) {
			return
		}
		invariants.Assert(lo >= at, "replica: chunk sealed ahead starts before the stable prefix")
		var b []byte
		var err error
		if r.grid != nil {
			b, err = r.grid.ReadSnapshotRange(r.cp.scratch[:0], int(lo-at), int(hi-at))
		} else {
			b = s.AppendSnapshotRange(r.cp.scratch[:0], int(lo-at), int(hi-at))
		}
		if err != nil {
			return // the checkpoint will read it again (and ask a peer)
		}
		invariants.Assert(uint64(len(b)) == chunk, "replica: chunk sealed ahead read to another length")
		sum := wire.Checksum(b)
		r.ahead.sums = r.ahead.sums[:max(len(r.ahead.sums), int(hi/chunk*wire.SyncManifestEntrySize))]
		e := r.ahead.sums[i*wire.SyncManifestEntrySize:]
		binary.LittleEndian.PutUint64(e, sum.Lo)
		binary.LittleEndian.PutUint64(e[8:], sum.Hi)
		r.ahead.hi++
	}
}
