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
	// gridWriteFault is the chance that a grid block written ahead of a
	// checkpoint (a prewrite) is lost or misdirected (host.gridWrite
	// decides which blocks and where; zero for a protected replica and
	// in the liveness phase).
	gridWriteFault float64
	// gridWrite, when set, is asked where a write at offset (n bytes)
	// lands: to, or lost (the storage acknowledges it and keeps the
	// bytes it replaced).
	gridWrite func(offset uint64, n int) (to uint64, lost bool)
	// onPrepareWrite, when set, is told of every write into the WAL's
	// prepare zone before it is applied (to: after misdirection);
	// onSync of every sync that took effect (headersWritten then holds
	// the redundant header entries it made durable).
	onPrepareWrite func(buf []byte, to uint64)
	onSync         func()
	// onDurable, when set, is told of every WriteDurable that completed
	// (offset: where the journal meant it to go).
	onDurable func(buf []byte, offset uint64)
	// layout and fail check the journal's write order (checkOrder), from
	// checkWriteOrder on; nil before.
	layout *journal.Layout
	fail   func(error)
	// unsyncedSlots holds, by WAL slot, the checksum of the prepare the
	// journal wrote there (its intended offset, whatever misdirection
	// did) since the last sync, zero when none.
	unsyncedSlots []wire.Uint128
	// headersWritten holds, by slot, the checksum of the last redundant
	// header entry the journal wrote (a sector rewritten with an entry the
	// journal wrote before only restores it).
	headersWritten []wire.Uint128
	// unsyncedOther counts the journal's other writes outside the
	// superblock since the last sync, the last at otherAt.
	unsyncedOther int
	otherAt       uint64
}

// checkWriteOrder makes s check the journal's write order on layout l
// from now on, failing through fail.
func (s *storage) checkWriteOrder(l *journal.Layout, fail func(error)) {
	s.layout, s.fail = l, fail
	s.unsyncedSlots = make([]wire.Uint128, l.Config.SlotCount)
	s.headersWritten = make([]wire.Uint128, l.Config.SlotCount)
}

// InvariantWriteOrder names a write the journal issued before what it
// depends on was durable: a redundant header entry naming a prepare not
// yet synced, a superblock before every other write (checkpoint grid
// blocks, truncations, prepares) was synced, or a prepare reported written
// while not synced. Each breaks only under a power loss at the wrong
// instant, which the fault mix rarely hits; the order itself is checked
// at every write. It follows the journal's intent (the offsets it
// submits), not where misdirection sent the bytes.
const InvariantWriteOrder = "write_order"

// checkOrder checks a write the journal submits at offset against the
// journal's writes not yet synced.
func (s *storage) checkOrder(buf []byte, offset uint64) {
	l := s.layout
	if l == nil {
		return
	}
	end := offset + uint64(len(buf))
	switch {
	case offset >= l.Superblock.Offset && end <= l.Superblock.End():
		if s.unsyncedOther > 0 {
			s.fail(violation(InvariantWriteOrder, "superblock written while %d other writes (the last at offset %d, %s) were not synced", s.unsyncedOther, s.otherAt, zoneAt(l, s.otherAt)))
			return
		}
		for slot, u := range s.unsyncedSlots {
			if !u.IsZero() {
				s.fail(violation(InvariantWriteOrder, "superblock written while the prepare write to slot %d was not synced", slot))
				return
			}
		}
	case offset >= l.WALHeaders.Offset && end <= l.WALHeaders.End():
		data := s.Data()
		for i := uint64(0); i+wire.HeaderSize <= uint64(len(buf)); i += wire.HeaderSize {
			entry := buf[i : i+wire.HeaderSize]
			if string(entry) == string(data[offset+i:offset+i+wire.HeaderSize]) {
				continue // unchanged
			}
			var h wire.Header
			h.Decode(entry)
			slot := uint32((offset + i - l.WALHeaders.Offset) / wire.HeaderSize)
			if h.Checksum == s.headersWritten[slot] {
				continue // written before: the disk lost or damaged it
			}
			if h.Command == wire.CommandPrepare && !h.Checksum.IsZero() && s.unsyncedSlots[slot] == h.Checksum {
				s.fail(violation(InvariantWriteOrder, "redundant header of op %d (prepare %x) written before its prepare was synced", h.Op, h.Checksum.Lo))
				return
			}
		}
	}
}

// recordWrite notes a write the journal submitted at offset and the
// storage applied.
func (s *storage) recordWrite(buf []byte, offset uint64) {
	l := s.layout
	if l == nil {
		return
	}
	switch {
	case offset >= l.WALHeaders.Offset && offset < l.WALHeaders.End():
		for i := uint64(0); i+wire.HeaderSize <= uint64(len(buf)); i += wire.HeaderSize {
			var h wire.Header
			h.Decode(buf[i : i+wire.HeaderSize])
			s.headersWritten[(offset+i-l.WALHeaders.Offset)/wire.HeaderSize] = h.Checksum
		}
		s.unsyncedOther++
		s.otherAt = offset
	case offset >= l.WALPrepare.Offset && offset < l.WALPrepare.End():
		slot := (offset - l.WALPrepare.Offset) / uint64(l.Config.MessageSizeMax)
		var h wire.Header
		h.Decode(buf)
		s.unsyncedSlots[slot] = h.Checksum
		if h.Checksum.IsZero() {
			s.unsyncedSlots[slot] = wire.Uint128{Lo: 1} // not a prepare: unsynced all the same
		}
	case offset >= l.Superblock.End():
		s.unsyncedOther++
		s.otherAt = offset
	}
}

// synced forgets the writes a sync made durable (or a crash resolved).
func (s *storage) synced() {
	clear(s.unsyncedSlots)
	s.unsyncedOther = 0
}

// Sync implements journal.Storage.
func (s *storage) Sync(cb func(error)) {
	s.MemoryStorage.Sync(cb)
	if _, dirty := s.UnsyncedOutside(0, 0); !dirty {
		s.synced() // it took effect (a crashed storage keeps its dirty sectors)
		if s.onSync != nil {
			s.onSync()
		}
	}
}

// Crash resolves the unsynced writes (journal.MemoryStorage.Crash).
func (s *storage) Crash(mode journal.CrashMode) {
	s.MemoryStorage.Crash(mode)
	s.synced()
}

// zoneAt names the zone of l that holds offset.
func zoneAt(l *journal.Layout, offset uint64) string {
	for _, z := range l.Zones() {
		if offset >= z.Offset && offset < z.End() {
			return z.Name
		}
	}
	return "outside the zones"
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
	synced     bool // a sync followed the write
	// headerSynced: a sync followed the write of its redundant header
	// entry (which the journal writes after the prepare is synced).
	headerSynced bool
	reported     bool // the journal reported it written (checkDurable)
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
	s.write(buf, offset, func(to uint64) { s.MemoryStorage.Write(buf, to, cb) })
}

// WriteDurable implements journal.Storage: a Write whose bytes (alone)
// are durable when it completes; the write-order bookkeeping treats it as
// unsynced until then.
func (s *storage) WriteDurable(buf []byte, offset uint64, cb func(error)) {
	s.write(buf, offset, func(to uint64) {
		s.MemoryStorage.WriteDurable(buf, to, func(err error) {
			if err == nil {
				s.durableWritten(buf, offset)
			}
			cb(err)
		})
	})
}

// write checks the order of a write the journal submits at offset,
// misdirects it at random, applies it with apply(to) and records it.
func (s *storage) write(buf []byte, offset uint64, apply func(to uint64)) {
	s.checkOrder(buf, offset)
	applied := s.Writes()
	to := s.misdirect(offset, len(buf), s.misdirectWrite, FaultMisdirectWrite)
	if s.onPrepareWrite != nil && s.inZone(to, len(buf), 0) {
		s.onPrepareWrite(buf, to)
	}
	lost := false
	if s.gridWrite != nil && s.gridWriteFault > 0 {
		to, lost = s.gridWrite(offset, len(buf))
	}
	var stale []byte
	if lost {
		stale = slices.Clone(s.Data()[to : to+uint64(len(buf))])
	}
	apply(to)
	if lost {
		// The device acknowledged the write and never made it: the
		// sectors keep what they held (a crash resolving them as
		// unsynced finds the same bytes).
		copy(s.Data()[to:], stale)
	}
	if s.Writes() > applied {
		s.recordWrite(buf, offset)
	}
}

// durableWritten forgets, as a sync would, the unsynced write a completed
// WriteDurable made durable.
func (s *storage) durableWritten(buf []byte, offset uint64) {
	if l := s.layout; l != nil {
		switch {
		case offset >= l.WALPrepare.Offset && offset < l.WALPrepare.End():
			slot := (offset - l.WALPrepare.Offset) / uint64(l.Config.MessageSizeMax)
			var h wire.Header
			h.Decode(buf)
			if s.unsyncedSlots[slot] == h.Checksum {
				s.unsyncedSlots[slot] = wire.Uint128{}
			}
		case offset >= l.Superblock.End() && s.unsyncedOther > 0:
			s.unsyncedOther--
		}
	}
	if s.onDurable != nil {
		s.onDurable(buf, offset)
	}
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
// before it needs state sync, and grid blocks of 4 KiB.
func simJournalConfig() journal.Config {
	c := journal.ConfigTest
	c.SlotCount = 128
	// Blocks of 4 KiB: a stable unit of 30 transfers, so that even short
	// ledger runs drop transfers into the grid and read them back.
	c.GridBlockSize, c.GridBlockCount = 4<<10, 2048
	return c
}
