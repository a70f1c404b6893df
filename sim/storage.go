package sim

import (
	"math/rand/v2"

	"github.com/chronon-db/chronon/journal"
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
	s.MemoryStorage.Write(buf, s.misdirect(offset, len(buf), s.misdirectWrite, FaultMisdirectWrite), cb)
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
