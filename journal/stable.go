package journal

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// Reading the durable checkpoint's stable prefix back. A state machine
// that drops from memory the stable bytes the durable checkpoint holds
// (statemachine.GridBacked) reads them through ReadStable, which goes
// through a block cache of SetStableCache blocks: each block is verified
// by its index entry's checksums when it enters the cache.

// stableCache is a set-associative cache of grid blocks by address (up to
// cacheWays ways a set, replaced in turn); a slot holds a block only when
// its header checksum is the one asked for, so a reused address never
// returns old bytes.
type stableCache struct {
	data     []byte // slots × grid_block_size, sector-aligned
	address  []uint64
	checksum []wire.Uint128
	ways     int
	victim   []uint8 // per set: the way replaced next
	// Hits, Misses: reads served from a slot, and reads that filled one.
	hits, misses uint64
}

// cacheWays is the most blocks one set of the stable cache holds.
const cacheWays = 8

// StableCacheStats counts the stable block cache's reads since Open.
type StableCacheStats struct {
	// Blocks is the cache's size in blocks; Hits and Misses count block
	// lookups served from it and lookups that read the grid.
	Blocks       int
	Hits, Misses uint64
}

// SetStableCache sizes the cache ReadStable reads through to n blocks
// (at least 1), dropping what it held. Call it at start-up: it allocates.
func (j *Journal) SetStableCache(n int) {
	// More blocks than the grid has would never be used.
	n = max(min(n, int(j.layout.Config.GridBlockCount)), 1)
	ways := min(n, cacheWays)
	n = n / ways * ways
	invariants.Assert(ways >= 1 && n >= ways && n%ways == 0, "journal: stable cache not a whole number of sets")
	j.cache = stableCache{
		data:     alignedBuffer(n * int(j.layout.Config.GridBlockSize)),
		address:  make([]uint64, n),
		checksum: make([]wire.Uint128, n),
		ways:     ways,
		victim:   make([]uint8, n/ways),
	}
	invariants.Assert(len(j.cache.address) == n && len(j.cache.data) == n*int(j.layout.Config.GridBlockSize), "journal: stable cache not sized as asked")
}

// StableCacheStats returns the cache's counters.
func (j *Journal) StableCacheStats() StableCacheStats {
	invariants.Assert(len(j.cache.address) == len(j.cache.checksum), "journal: stable cache arrays of different lengths")
	return StableCacheStats{Blocks: len(j.cache.address), Hits: j.cache.hits, Misses: j.cache.misses}
}

// StableUnit returns the granularity of StableHeld: a grid block's payload.
func (j *Journal) StableUnit() int {
	pm := j.blockPayloadMax()
	invariants.Assert(pm > 0 && pm <= int(j.layout.Config.GridBlockSize), "journal: stable unit outside a block")
	return pm
}

// StableHeld returns the segment of the state blob and the length of the
// stable prefix the durable checkpoint holds as full blocks marked stable
// (CheckpointData.StableSize), readable with ReadStable; (-1, 0) when it
// holds none or its index is not known.
func (j *Journal) StableHeld() (segment, size int) {
	if !j.curKnown || j.curStableSeg < 0 {
		return -1, 0
	}
	pm := j.blockPayloadMax()
	n := j.curStableSize / pm
	invariants.Assert(j.curStableFirst+n <= len(j.cur[RefState]), "journal: stable prefix beyond the state's blocks")
	invariants.Assert(j.curStableSeg <= SegmentsMax, "journal: stable segment beyond the segments")
	return j.curStableSeg, n * pm
}

// ReadStable appends bytes [from, to) of the durable checkpoint's stable
// prefix to dst, to at most StableHeld's size. Each block is read through
// the cache and verified by its index entry (header and payload
// checksums). Errors wrap ErrCorrupt or ErrIO.
func (j *Journal) ReadStable(dst []byte, from, to int) ([]byte, error) {
	_, held := j.StableHeld()
	if from < 0 || to < from || to > held {
		invariants.Failf("journal: stable read [%d, %d) beyond the %d bytes held", from, to, held)
	}
	if len(j.cache.address) == 0 {
		j.SetStableCache(1)
	}
	pm := j.blockPayloadMax()
	for from < to {
		k := from / pm
		b, err := j.stableBlockBytes(j.curStableFirst+k, j.repaired(k))
		if err != nil {
			return dst, fmt.Errorf("stable block %d: %w", k, err)
		}
		lo, hi := from-k*pm, min(to-k*pm, pm)
		invariants.Assert(lo >= 0 && lo < hi && hi <= len(b), "journal: stable read outside its block")
		dst = append(dst, b[lo:hi]...)
		from = k*pm + hi
	}
	invariants.Assert(from == to, "journal: stable read stopped short")
	return dst, nil
}

// stableBlockBytes returns the payload of the durable checkpoint's state
// block i, from the cache or read and verified into it.
func (j *Journal) stableBlockBytes(i int, rep *blockEntry) ([]byte, error) {
	e := &j.cur[RefState][i]
	if rep != nil {
		invariants.Assert(rep.body == e.body && rep.size == e.size, "journal: a repair of other bytes than its block's")
		e = rep
	}
	invariants.Assert(e.stable && e.segment == uint32(j.curStableSeg), "journal: stable read of a block outside the stable prefix")
	c := &j.cache
	bs := int(j.layout.Config.GridBlockSize)
	set := int((e.address * 0x9e3779b97f4a7c15 >> 17) % uint64(len(c.victim)))
	for w := range c.ways {
		if s := set*c.ways + w; c.address[s] == e.address && c.checksum[s] == e.checksum {
			c.hits++
			return c.data[s*bs+wire.HeaderSize : s*bs+wire.HeaderSize+int(e.size)], nil
		}
	}
	c.misses++
	slot := set*c.ways + int(c.victim[set])
	c.victim[set] = uint8((int(c.victim[set]) + 1) % c.ways)
	c.address[slot] = 0
	b, err := j.readEntry(c.data[slot*bs:(slot+1)*bs], e, BlockState)
	if err != nil {
		return nil, err
	}
	c.address[slot], c.checksum[slot] = e.address, e.checksum
	return b, nil
}

// knowStable sets curStableSeg, curStableSize and curStableFirst from the
// durable checkpoint's state index: the leading run of full blocks marked
// stable in one segment.
func (j *Journal) knowStable() {
	invariants.Assert(len(j.repairs) == 0, "journal: stable prefix changed under pending repairs")
	j.curStableSeg, j.curStableSize, j.curStableFirst = -1, 0, 0
	if !j.curKnown {
		return
	}
	st := j.cur[RefState]
	for i := range st {
		if !st[i].stable {
			continue
		}
		n := 0
		for i+n < len(st) && st[i+n].stable && st[i+n].segment == st[i].segment {
			n++
		}
		j.curStableSeg, j.curStableSize, j.curStableFirst = int(st[i].segment), n*j.blockPayloadMax(), i
		break
	}
	invariants.Assert(j.curStableFirst+j.curStableSize/max(1, j.blockPayloadMax()) <= len(st), "journal: stable run beyond the state's blocks")
}

// ReadCheckpointOmitting is ReadCheckpoint without reading the stable
// prefix the durable checkpoint holds (StableHeld): State has the blob's
// full length, but those bytes are not written (a fresh buffer keeps its
// memory pages untouched there), and the result's StableSegment,
// StableOffset and StableOmitted name them. The caller reads them with ReadStable.
func (j *Journal) ReadCheckpointOmitting(dst CheckpointData) (CheckpointData, error) {
	seg, held := j.StableHeld()
	if held == 0 {
		dst.StableOmitted = 0
		return j.ReadCheckpoint(dst)
	}
	refs := &j.sb.VSR.Refs
	var err error
	if dst.Sessions, err = j.ReadBlob(refs[RefSessions], BlockSessions, dst.Sessions); err != nil {
		return dst, fmt.Errorf("client sessions: %w", err)
	}
	ref := refs[RefState]
	start := len(dst.State)
	if uint64(cap(dst.State)-start) < ref.Size {
		b := make([]byte, start, start+int(ref.Size))
		copy(b, dst.State)
		dst.State = b
	}
	// The state's blocks as the index read at open lists them (j.cur):
	// the index is not read again.
	first, last := j.curStableFirst, j.curStableFirst+held/j.blockPayloadMax()
	at := -1
	for i := range j.cur[RefState] {
		e := &j.cur[RefState][i]
		if i >= first && i < last {
			invariants.Assert(e.stable && int(e.segment) == seg, "journal: a held block outside the stable prefix")
			if i == first {
				at = len(dst.State) - start
			}
			dst.State = dst.State[:len(dst.State)+int(e.size)]
			continue
		}
		b, err := j.readEntry(j.blockBuf, e, BlockState)
		if err != nil {
			return dst, fmt.Errorf("state: %w", err)
		}
		dst.State = append(dst.State, b...)
	}
	invariants.Assert(uint64(len(dst.State)-start) == ref.Size, "journal: state read has another length than its reference")
	invariants.Assert(at >= 0, "journal: stable prefix not met in the state's index")
	dst.StableSegment, dst.StableOmitted, dst.StableOffset = seg, held, at
	return dst, nil
}
