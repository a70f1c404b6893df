package journal

import (
	"errors"
	"math/rand/v2"
	"unsafe"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// ErrCrashed is returned by a MemoryStorage whose write budget is exhausted
// (see MemoryStorage.CrashAfterWrites): the simulated machine is down.
var ErrCrashed = errors.New("journal: storage crashed")

// MemoryFaults configures the random faults of a MemoryStorage. All
// randomness comes from the seeded PRNG, so a seed reproduces a run exactly.
type MemoryFaults struct {
	// LatencyMin and LatencyMax bound each operation's latency in ticks.
	LatencyMin, LatencyMax int
	// MisdirectWrite and MisdirectRead are the probabilities that a write
	// lands at, or a read comes from, another slot of the same zone.
	MisdirectWrite, MisdirectRead float64
	// Zones limits misdirection to these zones (usually Layout.Zones()).
	Zones []Zone
}

// MemoryStorage is an in-memory Storage that injects faults: writes not yet
// synced are lost or torn per sector on Crash, bits flip on request,
// reads and writes are misdirected at random, and operations complete after
// a random latency in ticks. It uses no clock and no goroutines.
type MemoryStorage struct {
	data   []byte
	rng    *rand.Rand
	src    *rand.PCG
	faults MemoryFaults
	tick   uint64
	seq    uint64
	queue  []memCompletion

	// dirty lists the sectors written since the last sync, in first-write
	// order, with their contents before that write (for Crash).
	dirty      []dirtySector
	dirtyIndex map[uint64]int
	// spareOld holds the old-content buffers of sectors a sync or crash
	// resolved, for the next writes (a sector written allocates only
	// until the storage reached its working set).
	spareOld [][]byte

	writes    int
	writesMax int // -1: unlimited
	crashed   bool
}

type memCompletion struct {
	due, seq uint64
	cb       func(error)
	err      error
	// durable: a WriteDurable whose sectors [from, to) become durable
	// when it completes (a crash before then resolves them as unsynced).
	durable  bool
	from, to uint64
}

type dirtySector struct {
	sector uint64
	old    []byte
}

// NewMemoryStorage returns a zeroed storage of size bytes (a multiple of
// SectorSize) whose faults are driven by seed.
func NewMemoryStorage(size uint64, seed uint64, faults MemoryFaults) *MemoryStorage {
	if size == 0 || size%SectorSize != 0 {
		invariants.Failf("journal: memory storage size %d not sector-aligned", size)
	}
	invariants.Assert(faults.LatencyMax >= faults.LatencyMin && faults.LatencyMin >= 0, "journal: memory storage latency bounds inverted")
	invariants.Assert(faults.MisdirectRead <= 1 && faults.MisdirectWrite <= 1, "journal: misdirection probability above 1")
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	return &MemoryStorage{
		data:       make([]byte, size),
		src:        src,
		rng:        rand.New(src),
		faults:     faults,
		dirtyIndex: make(map[uint64]int),
		writesMax:  -1,
	}
}

// Size implements Storage.
func (m *MemoryStorage) Size() uint64 { return uint64(len(m.data)) }

// Data returns the storage's bytes (as they would be read now). Tests use it
// to copy or inspect a state; writing to it bypasses fault bookkeeping.
func (m *MemoryStorage) Data() []byte { return m.data }

// Writes returns the number of writes submitted so far.
func (m *MemoryStorage) Writes() int { return m.writes }

// CrashAfterWrites makes the storage accept n more writes; after that every
// write and sync fails with ErrCrashed and changes nothing, as if the
// machine stopped. Crash ends the outage. n < 0 removes the limit.
func (m *MemoryStorage) CrashAfterWrites(n int) {
	if n < 0 {
		m.writesMax = -1
		return
	}
	m.writesMax = m.writes + n
	invariants.Assert(m.writesMax >= m.writes, "journal: write budget overflows")
}

func (m *MemoryStorage) complete(cb func(error), err error) {
	invariants.Assert(cb != nil, "journal: storage operation without a callback")
	invariants.Assert(err == nil || m.crashed, "journal: memory storage fails an operation while up")
	m.enqueue(memCompletion{cb: cb, err: err})
}

// enqueue schedules c after a random latency.
func (m *MemoryStorage) enqueue(c memCompletion) {
	invariants.Assert(c.cb != nil, "journal: storage operation without a callback")
	invariants.Assert(!c.durable || (c.from < c.to && c.err == nil), "journal: durable completion of no sectors, or of a failed write")
	lat := m.faults.LatencyMin
	if m.faults.LatencyMax > m.faults.LatencyMin {
		lat += m.rng.IntN(m.faults.LatencyMax - m.faults.LatencyMin + 1)
	}
	invariants.Assert(lat <= m.faults.LatencyMax || m.faults.LatencyMax < m.faults.LatencyMin, "journal: latency above its bound")
	m.seq++
	c.due, c.seq = m.tick+uint64(lat), m.seq
	m.queue = append(m.queue, c)
}

// misdirect returns offset moved to another slot of the zone that holds the
// whole access, with probability p; otherwise offset.
func (m *MemoryStorage) misdirect(offset uint64, n int, p float64) uint64 {
	if p <= 0 || m.rng.Float64() >= p {
		return offset
	}
	for _, z := range m.faults.Zones {
		if offset < z.Offset || offset+uint64(n) > z.End() || z.SlotSize == 0 {
			continue
		}
		slots := z.Size / z.SlotSize
		slot := (offset - z.Offset) / z.SlotSize
		within := offset - z.Offset - slot*z.SlotSize
		if slots < 2 || within+uint64(n) > z.SlotSize {
			return offset
		}
		other := (slot + 1 + m.rng.Uint64N(slots-1)) % slots
		invariants.Assert(other != slot && other < slots, "journal: misdirection to the same or no slot")
		to := z.Offset + other*z.SlotSize + within
		invariants.Assert(to+uint64(n) <= z.End() && to%SectorSize == offset%SectorSize, "journal: misdirection leaves the zone or the sector grid")
		return to
	}
	return offset
}

// Read implements Storage.
func (m *MemoryStorage) Read(buf []byte, offset uint64, cb func(error)) {
	checkAligned(buf, offset, m.Size())
	from := m.misdirect(offset, len(buf), m.faults.MisdirectRead)
	invariants.Assert(from+uint64(len(buf)) <= m.Size(), "journal: misdirected read beyond the storage")
	copy(buf, m.data[from:from+uint64(len(buf))])
	m.complete(cb, nil)
}

// Write implements Storage.
func (m *MemoryStorage) Write(buf []byte, offset uint64, cb func(error)) {
	if to, ok := m.write(buf, offset, cb); ok {
		invariants.Assert(m.Unsynced(to, uint64(len(buf))), "journal: a write left no unsynced sector")
		m.complete(cb, nil)
	}
}

// WriteDurable implements Storage. The write is applied when submitted, as
// Write's, and its sectors become durable when it completes: a crash
// before that loses, keeps or tears them like any unsynced write.
func (m *MemoryStorage) WriteDurable(buf []byte, offset uint64, cb func(error)) {
	invariants.Assert(cb != nil, "journal: durable write without a callback")
	if to, ok := m.write(buf, offset, cb); ok {
		invariants.Assert(to%SectorSize == 0 && len(buf)%SectorSize == 0, "journal: durable write off the sector grid")
		m.enqueue(memCompletion{cb: cb, durable: true, from: to / SectorSize, to: (to + uint64(len(buf))) / SectorSize})
	}
}

// write applies a write (misdirected at random) and returns where it
// went; when the storage is crashed it reports ErrCrashed to cb and
// returns false.
func (m *MemoryStorage) write(buf []byte, offset uint64, cb func(error)) (uint64, bool) {
	checkAligned(buf, offset, m.Size())
	if m.writesMax >= 0 && m.writes >= m.writesMax {
		m.crashed = true
	}
	if m.crashed {
		m.complete(cb, ErrCrashed)
		return 0, false
	}
	m.writes++
	invariants.Assert(m.writesMax < 0 || m.writes <= m.writesMax, "journal: write accepted beyond the write budget")
	to := m.misdirect(offset, len(buf), m.faults.MisdirectWrite)
	invariants.Assert(to+uint64(len(buf)) <= m.Size(), "journal: misdirected write beyond the storage")
	for s := to / SectorSize; s < (to+uint64(len(buf)))/SectorSize; s++ {
		if _, ok := m.dirtyIndex[s]; ok {
			continue
		}
		old := m.oldBuffer()
		copy(old, m.data[s*SectorSize:])
		m.dirtyIndex[s] = len(m.dirty)
		m.dirty = append(m.dirty, dirtySector{sector: s, old: old})
	}
	copy(m.data[to:], buf)
	invariants.Assert(len(m.dirty) == len(m.dirtyIndex), "journal: dirty sector list and index disagree")
	return to, true
}

// Sync implements Storage. Writes are applied when submitted, so a sync
// makes every write submitted before it durable.
func (m *MemoryStorage) Sync(cb func(error)) {
	if m.writesMax >= 0 && m.writes >= m.writesMax {
		// A sync after the last allowed write may not make it durable:
		// the crash happens before the sync.
		m.crashed = true
	}
	if m.crashed {
		m.complete(cb, ErrCrashed)
		return
	}
	m.resolveDirty()
	invariants.Assert(!m.crashed, "journal: sync on a crashed storage")
	invariants.Assert(m.writesMax < 0 || m.writes <= m.writesMax, "journal: sync after writes beyond the write budget")
	m.complete(cb, nil)
}

// Unsynced reports whether a sector of [offset, offset+n) was written
// since the last sync: a crash may still lose or tear it. The simulator
// checks the journal's durability order with it.
func (m *MemoryStorage) Unsynced(offset, n uint64) bool {
	invariants.Assert(offset+n <= m.Size(), "journal: unsynced range beyond the storage")
	for sector := offset / SectorSize; sector*SectorSize < offset+n; sector++ {
		if _, ok := m.dirtyIndex[sector]; ok {
			return true
		}
	}
	return false
}

// UnsyncedOutside returns the offset of a sector written since the last
// sync that lies outside [offset, offset+n), if there is one.
func (m *MemoryStorage) UnsyncedOutside(offset, n uint64) (uint64, bool) {
	for _, d := range m.dirty {
		at := d.sector * SectorSize
		if at+SectorSize <= offset || at >= offset+n {
			return at, true
		}
	}
	return 0, false
}

// Tick implements Storage: it advances time by one tick and runs the
// callbacks that are due, in submission order.
func (m *MemoryStorage) Tick() {
	m.tick++
	for {
		best := -1
		for i := range m.queue {
			c := &m.queue[i]
			if c.due <= m.tick && (best < 0 || c.seq < m.queue[best].seq) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		c := m.queue[best]
		invariants.Assert(c.due <= m.tick && c.seq <= m.seq, "journal: completion run before it is due")
		m.queue = append(m.queue[:best], m.queue[best+1:]...)
		if c.durable {
			m.resolveSectors(c.from, c.to)
		}
		c.cb(c.err)
	}
}

// CrashMode says what happens to each sector written since the last sync
// when the storage crashes.
type CrashMode uint8

// Crash modes.
const (
	// CrashLoseAll drops every unsynced write.
	CrashLoseAll CrashMode = iota
	// CrashKeepAll keeps every unsynced write.
	CrashKeepAll
	// CrashRandom keeps, drops or tears (a prefix of 512-byte pieces kept)
	// each unsynced sector at random.
	CrashRandom
)

// Crash simulates power loss: pending completions are dropped, unsynced
// sectors are resolved per mode, and the storage accepts I/O again.
func (m *MemoryStorage) Crash(mode CrashMode) {
	invariants.Assert(mode <= CrashRandom, "journal: unknown crash mode")
	m.queue = m.queue[:0]
	for _, d := range m.dirty {
		at := m.data[d.sector*SectorSize : (d.sector+1)*SectorSize]
		switch mode {
		case CrashLoseAll:
			copy(at, d.old)
		case CrashKeepAll:
		case CrashRandom:
			switch m.rng.IntN(3) {
			case 0:
				copy(at, d.old)
			case 1:
			case 2:
				keep := (1 + m.rng.IntN(SectorSize/512-1)) * 512
				copy(at[keep:], d.old[keep:])
			}
		}
	}
	m.resolveDirty()
	m.crashed = false
	m.writesMax = -1
	invariants.Assert(len(m.queue) == 0 && len(m.dirtyIndex) == 0, "journal: crash left pending operations or dirty sectors")
}

// FlipBit inverts one bit of the stored bytes (bit rot).
func (m *MemoryStorage) FlipBit(offset uint64, bit uint) {
	invariants.Assert(offset < m.Size(), "journal: bit flip beyond the storage")
	m.data[offset] ^= 1 << (bit % 8)
}

// FlipRandomBit flips a random bit inside z and returns its offset.
func (m *MemoryStorage) FlipRandomBit(z Zone) uint64 {
	invariants.Assert(z.Size > 0 && z.End() <= m.Size(), "journal: bit flip in a zone outside the storage")
	off := z.Offset + m.rng.Uint64N(z.Size)
	m.FlipBit(off, uint(m.rng.IntN(8)))
	return off
}

// Reseed restarts the fault PRNG from seed.
func (m *MemoryStorage) Reseed(seed uint64) { m.src.Seed(seed, seed^0x9e3779b97f4a7c15) }

// Random returns the storage's PRNG, for tests that want reproducible
// choices tied to the same seed.
func (m *MemoryStorage) Random() *rand.Rand { return m.rng }

var _ Storage = (*MemoryStorage)(nil)

// alignedBuffer returns a zeroed, sector-aligned buffer of n bytes.
func alignedBuffer(n int) []byte {
	b := wire.AlignedSlice(n)
	invariants.Assert(len(b) == n && (n == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%SectorSize == 0), "journal: buffer not sector-aligned")
	return b
}

// oldBuffer returns a sector-sized buffer for a dirty sector's old content.
func (m *MemoryStorage) oldBuffer() []byte {
	if n := len(m.spareOld); n > 0 {
		b := m.spareOld[n-1]
		m.spareOld = m.spareOld[:n-1]
		invariants.Assert(len(b) == SectorSize, "journal: spare sector buffer of another size")
		return b
	}
	return make([]byte, SectorSize)
}

// resolveSectors makes the dirty sectors in [from, to) durable (a
// durable write completed), keeping the order of the others.
func (m *MemoryStorage) resolveSectors(from, to uint64) {
	invariants.Assert(from < to && to <= m.Size()/SectorSize, "journal: durable sectors outside the storage")
	kept := m.dirty[:0]
	for _, d := range m.dirty {
		if d.sector >= from && d.sector < to {
			m.spareOld = append(m.spareOld, d.old)
			delete(m.dirtyIndex, d.sector)
			continue
		}
		m.dirtyIndex[d.sector] = len(kept)
		kept = append(kept, d)
	}
	clear(m.dirty[len(kept):])
	m.dirty = kept
	invariants.Assert(len(m.dirty) == len(m.dirtyIndex), "journal: dirty sector list and index disagree after a durable write")
}

// resolveDirty forgets the dirty sectors (synced or resolved by a crash),
// keeping their old-content buffers for reuse.
func (m *MemoryStorage) resolveDirty() {
	for i := range m.dirty {
		m.spareOld = append(m.spareOld, m.dirty[i].old)
		m.dirty[i].old = nil
	}
	m.dirty = m.dirty[:0]
	clear(m.dirtyIndex)
	invariants.Assert(len(m.dirtyIndex) == 0, "journal: dirty sectors left after resolving them")
}
