package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// storage is a replica's data file: a journal.MemoryStorage (crash and
// tear of unsynced writes, bit flips) with misdirected reads and writes
// added here, so that each one is counted. Misdirection stays inside the
// WAL zones (prepares and headers) and moves an access to another slot of
// the same zone.
type storage struct {
	*journal.MemoryStorage
	rng   *rand.Rand
	stats *Stats
	zones []journal.Zone
	// misdirectWrite and misdirectRead are the current probabilities
	// (zero for a protected replica and in the liveness phase).
	misdirectWrite, misdirectRead float64
	// capture, while a prepare write runs, records where its bytes land
	// (after misdirection) and what they replace.
	capture *inflightWrite
}

// inflightWrite is a prepare write whose completion the replica has not
// been handed yet (replica.Journal: the prepare is durable only once
// OnPrepareWritten runs). The journal below writes synchronously, so the
// simulator keeps what the write replaced: a crash before the completion
// loses, keeps or tears the prepare, and a lost or torn prepare takes its
// redundant header entry with it (the journal writes that entry only
// after the prepare is durable).
type inflightWrite struct {
	op         uint64
	checksum   wire.Uint128
	at         uint64 // where the prepare's bytes went
	old        []byte // the bytes they replaced (nil: nothing written)
	header     uint64 // offset of the slot's redundant header entry
	oldHeader  []byte
	superseded bool // a truncation removed the op: its fate is the truncation's
}

func (s *storage) misdirect(offset uint64, n int, p float64, kind FaultKind) uint64 {
	if p <= 0 || s.rng.Float64() >= p {
		return offset
	}
	for _, z := range s.zones {
		if offset < z.Offset || offset+uint64(n) > z.End() {
			continue
		}
		slots := z.Size / z.SlotSize
		slot := (offset - z.Offset) / z.SlotSize
		within := offset - z.Offset - slot*z.SlotSize
		if slots < 2 || within+uint64(n) > z.SlotSize {
			return offset
		}
		s.stats.Faults[kind]++
		other := (slot + 1 + s.rng.Uint64N(slots-1)) % slots
		return z.Offset + other*z.SlotSize + within
	}
	return offset
}

// Read implements journal.Storage.
func (s *storage) Read(buf []byte, offset uint64, cb func(error)) {
	s.MemoryStorage.Read(buf, s.misdirect(offset, len(buf), s.misdirectRead, FaultMisdirectRead), cb)
}

// Write implements journal.Storage.
func (s *storage) Write(buf []byte, offset uint64, cb func(error)) {
	to := s.misdirect(offset, len(buf), s.misdirectWrite, FaultMisdirectWrite)
	if w := s.capture; w != nil && w.old == nil && s.inZone(to, len(buf), 0) {
		w.at = to
		w.old = append([]byte(nil), s.Data()[to:to+uint64(len(buf))]...)
	}
	s.MemoryStorage.Write(buf, to, cb)
}

// inZone reports whether [offset, offset+n) lies inside zones[z].
func (s *storage) inZone(offset uint64, n int, z int) bool {
	return offset >= s.zones[z].Offset && offset+uint64(n) <= s.zones[z].End()
}

// resolveInflight applies a crash to the prepare writes in flight (newest
// first), as mode says: each is lost (its bytes and its header entry
// restored), kept, or torn (a prefix of 512-byte pieces kept, the entry
// restored). An older write under a kept or torn one stays as it is.
// It returns the lowest op lost or torn (0: none).
func (s *storage) resolveInflight(ws []inflightWrite, mode journal.CrashMode) (lowest uint64) {
	data := s.Data()
	var decided []uint64
	for i := len(ws) - 1; i >= 0; i-- {
		w := &ws[i]
		if w.superseded || w.old == nil || slices.Contains(decided, w.at) {
			continue
		}
		fate := 1 // keep
		switch mode {
		case journal.CrashLoseAll:
			fate = 0
		case journal.CrashRandom:
			fate = s.rng.IntN(3)
		}
		pieces := len(w.old) / 512
		if fate == 2 && pieces < 2 {
			fate = 0
		}
		switch fate {
		case 0:
			copy(data[w.at:], w.old)
			s.stats.Faults[FaultWriteLostInFlight]++
		case 1:
			decided = append(decided, w.at)
			continue
		case 2:
			keep := (1 + s.rng.IntN(pieces-1)) * 512
			copy(data[w.at+uint64(keep):], w.old[keep:])
			decided = append(decided, w.at)
			s.stats.Faults[FaultWriteTornInFlight]++
		}
		copy(data[w.header:], w.oldHeader)
		if lowest == 0 || w.op < lowest {
			lowest = w.op
		}
	}
	return lowest
}

var _ journal.Storage = (*storage)(nil)

// simJournalConfig is the data file of every simulated replica: the test
// preset with a WAL of 128 slots, so a backup may fall further behind
// before it would need state sync (which does not exist yet).
func simJournalConfig() journal.Config {
	c := journal.ConfigTest
	c.SlotCount = 128
	return c
}
