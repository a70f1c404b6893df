package journal

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// Journal is an open data file. It is not safe for concurrent use; the
// replica drives it from its single event loop. Failure is crash-only: after
// any error from a write path (WritePrepares, Flush, SetVSR, Checkpoint)
// the Journal must be dropped and the file reopened, which
// recovers a consistent state.
type Journal struct {
	storage  Storage
	io       *syncIO
	layout   Layout
	wcfg     wire.Config
	sb       Superblock // the durable superblock
	readOnly bool

	sbBuf      []byte // one sector
	headers    []byte // the headers ring, slot_count × 256 bytes
	prepareBuf []byte // message_size_max
	replyBuf   []byte // message_size_max, scratch (wal_truncate)
	blockBuf   []byte // grid_block_size
	blobBuf    []byte // scratch for the free set encoding
	indexBuf   []byte // grid_block_size: an index block being read or built

	// cur lists the data blocks of each blob of the durable checkpoint
	// (slices of curBuf), when curKnown: the index could be read at open,
	// or a checkpoint was written since. A checkpoint shares only blocks
	// listed here. next collects the blocks of the checkpoint being
	// written; the two buffers swap when it becomes durable.
	cur      [refCount][]blockEntry
	curKnown bool
	// curStableSeg and curStableSize: the stable prefix the durable
	// checkpoint was written with (-1 and 0: none, or not known after
	// Open).
	curStableSeg, curStableSize int
	// curStableFirst is the position in cur[RefState] of the stable
	// prefix's first block.
	curStableFirst int
	// cache holds stable blocks ReadStable read (stable.go).
	cache      stableCache
	curBuf     []blockEntry
	next       []blockEntry
	indexAddrs []uint64 // scratch: index block addresses of one blob
	fixedBuf   []uint64 // scratch: the free set's blocks
	// The scrubber verifies the shared blocks at positions [scrubCursor,
	// scrubCursor+ScrubBlocksPerCheckpoint) of each checkpoint; scrubPos
	// counts positions during one.
	scrubCursor, scrubPos uint64
	// Checkpoint counters (CheckpointStats).
	gridWritten, gridWrittenBlocks, gridShared, gridScrubbedBad uint64
	gridPrewritten, gridPrewriteUsed                            uint64

	// Prewrites (Prewrite): pre[i] is the block written ahead for block
	// preBase+i of segment preSegment of the next checkpoint's state blob;
	// preSet holds their addresses until a checkpoint takes them.
	pre    []blockEntry
	preSet freeSet
	// repairs are stable blocks written again from a peer's bytes
	// (RepairStable), held in repSet until a checkpoint takes them.
	repairs      []repair
	repSet       freeSet
	gridRepaired uint64
	preSegment   int
	preBase      int
	preCursor    uint64
	preBuf       []byte
	// An asynchronous prewrite (SubmitPrewrite) in flight: its block
	// (written from preBlock, its address in preSet) joins pre when
	// durable, then preCB runs.
	preInFlight bool
	preFlight   blockEntry
	preBlock    []byte
	preCB       func(error)
	preDone     func(error)
	// preErr is a failed prewrite's error, returned by the next
	// AwaitPrewrite; preAwaiting is set while AwaitPrewrite waits.
	preErr      error
	preAwaiting bool

	acquired freeSet // blocks of the durable checkpoint
	staging  freeSet // blocks of the checkpoint being written

	// pending holds the redundant headers of durable prepares not yet in
	// the ring (HeaderDeferred; see WritePrepares), batch the headers of
	// the batch being written, dirtySectors the ring sectors to write.
	headerMode HeaderMode
	append     appendState
	waitDone   bool
	waitErr    error
	waitCB     func(error)
	pending    []wire.Header
	batch      []wire.Header
	batchSlots []bool
	// truncSlots marks the slots a truncation reserved, for read-back.
	truncSlots   []bool
	dirtySectors []bool

	report    Report
	gridFault error         // why the free set could not be loaded, if it could not
	trusted   []wire.Header // per slot, valid when report.Slots[slot].Known
	copies    [SuperblockCopies]CopyStatus
}

// FormatOptions are the parameters of a new data file.
type FormatOptions struct {
	Config       Config
	Cluster      wire.Uint128
	Replica      uint8
	ReplicaCount uint8
	// Rejoin formats a replacement for a replica whose data file was lost
	// while its cluster runs: the file is marked (VSRState.Rejoining) so
	// the replica stays out of view-change votes until it has caught up.
	// See docs/replica.md.
	Rejoin bool
	// WriteWAL writes every byte of the WAL prepare zone (zeros after each
	// slot's reserved header) instead of only each slot's first sector.
	// A preallocated file's blocks start unwritten, and the first write
	// of each one changes its extent on top of the data: with this the
	// WAL's writes overwrite written blocks from the first op on, and
	// their syncs carry no file-system metadata (docs/data-file.md).
	WriteWAL bool
	// Params are the state machine's parameters the superblock keeps
	// (Superblock.Params); the journal does not interpret them.
	Params [ParamsCount]uint64
}

// Check returns an error wrapping ErrConfig when o is unusable.
func (o *FormatOptions) Check() error {
	if err := o.Config.Check(); err != nil {
		return err
	}
	if o.ReplicaCount == 0 || o.ReplicaCount > wire.ReplicaCountMax {
		return fmt.Errorf("%w: replica count %d not in [1, %d]", ErrConfig, o.ReplicaCount, wire.ReplicaCountMax)
	}
	if o.Replica >= o.ReplicaCount {
		return fmt.Errorf("%w: replica %d not below replica count %d", ErrConfig, o.Replica, o.ReplicaCount)
	}
	if o.Rejoin && o.ReplicaCount == 1 {
		return fmt.Errorf("%w: a single replica has no peers to rejoin", ErrConfig)
	}
	invariants.Assert(o.Replica < o.ReplicaCount && o.ReplicaCount <= wire.ReplicaCountMax, "journal: accepted format options name no replica")
	invariants.Assert(!o.Rejoin || o.ReplicaCount > 1, "journal: accepted a rejoin without peers")
	return nil
}

// Format writes an empty data file to s (which must be at least the
// layout's size and read as zeros outside what Format writes): the WAL with
// the root prepare at op 0 in slot 0 and the reserved header in every other
// slot (both rings), empty client reply slots, and finally the superblock
// copies (sequence 1). Until the superblock is written the file is not a
// Chronon file, so a crash during Format leaves nothing that opens.
func Format(s Storage, o FormatOptions) error {
	invariants.Assert(s != nil, "journal: format without a storage")
	if err := o.Check(); err != nil {
		return err
	}
	layout, err := NewLayout(o.Config)
	if err != nil {
		return err
	}
	if s.Size() < layout.Size {
		return fmt.Errorf("%w: storage of %d bytes, layout needs %d", ErrConfig, s.Size(), layout.Size)
	}
	io := newSyncIO(s)
	c := o.Config
	root := wire.RootPrepare(o.Cluster)
	invariants.Assert(root.Op == 0 && root.Command == wire.CommandPrepare, "journal: root prepare is not op 0")
	ring := alignedBuffer(int(layout.WALHeaders.Size))
	sector := alignedBuffer(SectorSize)
	var zeros []byte // the rest of a slot, when WriteWAL
	if o.WriteWAL && c.MessageSizeMax > SectorSize {
		zeros = alignedBuffer(int(c.MessageSizeMax) - SectorSize)
	}
	invariants.Assert(zeros == nil || uint64(len(zeros))+SectorSize == uint64(c.MessageSizeMax), "journal: zero fill other than a slot's rest")
	wcfg := wire.Config{Cluster: o.Cluster, ReplicaCount: o.ReplicaCount, MessageSizeMax: c.MessageSizeMax}
	for slot := uint32(0); slot < c.SlotCount; slot++ {
		h := reservedHeader(o.Cluster, slot)
		if slot == 0 {
			h = root
		}
		h.Encode(ring[slot*wire.HeaderSize:])
		if invariants.Enabled {
			// Paired with recovery: the formatted slot reads back as the
			// root prepare in slot 0 and as reserved elsewhere.
			var got wire.Header
			want := HeaderReserved
			if slot == 0 {
				want = HeaderPrepare
			}
			invariants.Assert(ClassifyHeader(ring[slot*wire.HeaderSize:], slot, c.SlotCount, &wcfg, &got) == want && got == h, "journal: formatted WAL header does not classify as written")
		}
		clear(sector)
		h.Encode(sector)
		if err := io.write(sector, layout.PrepareOffset(slot)); err != nil {
			return err
		}
		if zeros != nil {
			if err := io.write(zeros, layout.PrepareOffset(slot)+SectorSize); err != nil {
				return err
			}
		}
	}
	if err := io.write(ring, layout.WALHeaders.Offset); err != nil {
		return err
	}
	if err := io.sync(); err != nil {
		return err
	}
	sb := Superblock{
		Sequence:     1,
		Cluster:      o.Cluster,
		Replica:      o.Replica,
		ReplicaCount: o.ReplicaCount,
		Config:       c,
		Params:       o.Params,
		VSR:          VSRState{CheckpointChecksum: root.Checksum, Rejoining: o.Rejoin},
	}
	// Paired with DecodeSuperblock: the first superblock passes the
	// checks it is read back with.
	if err := sb.check(); err != nil {
		invariants.Failf("journal: formatted superblock fails its read checks: %v", err)
	}
	sb.Encode(sector)
	if invariants.Enabled {
		var got Superblock
		invariants.Assert(DecodeSuperblock(sector, &got) == nil && got == sb, "journal: formatted superblock does not decode as written")
	}
	for i := 0; i < SuperblockCopies; i++ {
		if err := io.write(sector, layout.SuperblockOffset(i)); err != nil {
			return err
		}
		if err := io.sync(); err != nil {
			return err
		}
	}
	return nil
}

// Open opens the data file on s: it picks the superblock (ReadSuperblock),
// rewrites copies that disagree with it, recovers the WAL (see Report), and
// writes back the redundant headers it could fix locally. Prepares are
// never rewritten by Open. The report is available from Report.
func Open(s Storage) (*Journal, error) {
	j, err := open(s, false)
	invariants.Assert((j == nil) != (err == nil), "journal: open returned both or neither of a journal and an error")
	invariants.Assert(j == nil || !j.readOnly, "journal: Open returned a read-only journal")
	return j, err
}

// OpenReadOnly is Open without any write: for chronon inspect.
func OpenReadOnly(s Storage) (*Journal, error) {
	j, err := open(s, true)
	invariants.Assert((j == nil) != (err == nil), "journal: open returned both or neither of a journal and an error")
	invariants.Assert(j == nil || j.readOnly, "journal: OpenReadOnly returned a writable journal")
	return j, err
}

func open(s Storage, readOnly bool) (*Journal, error) {
	sb, copies, err := ReadSuperblock(s)
	if err != nil {
		return nil, err
	}
	layout, err := NewLayout(sb.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.Size() < layout.Size {
		return nil, fmt.Errorf("%w: file has %d bytes, its layout needs %d (truncated?)", ErrCorrupt, s.Size(), layout.Size)
	}
	c := sb.Config
	j := &Journal{
		storage:      s,
		io:           newSyncIO(s),
		layout:       layout,
		wcfg:         wire.Config{Cluster: sb.Cluster, ReplicaCount: sb.ReplicaCount, MessageSizeMax: c.MessageSizeMax},
		sb:           sb,
		readOnly:     readOnly,
		copies:       copies,
		sbBuf:        alignedBuffer(SectorSize),
		headers:      alignedBuffer(int(layout.WALHeaders.Size)),
		prepareBuf:   alignedBuffer(int(c.MessageSizeMax)),
		replyBuf:     alignedBuffer(int(c.MessageSizeMax)),
		blockBuf:     alignedBuffer(int(c.GridBlockSize)),
		acquired:     newFreeSet(c.GridBlockCount),
		staging:      newFreeSet(c.GridBlockCount),
		trusted:      make([]wire.Header, c.SlotCount),
		pending:      make([]wire.Header, 0, c.SlotCount),
		batch:        make([]wire.Header, 0, c.SlotCount),
		batchSlots:   make([]bool, c.SlotCount),
		truncSlots:   make([]bool, c.SlotCount),
		dirtySectors: make([]bool, layout.WALHeaders.Size/SectorSize),
	}
	j.blobBuf = make([]byte, 0, j.acquired.encodedSize())
	j.indexBuf = alignedBuffer(int(c.GridBlockSize))
	j.curBuf = make([]blockEntry, 0, c.GridBlockCount)
	j.next = make([]blockEntry, 0, c.GridBlockCount)
	j.indexAddrs = make([]uint64, 0, c.GridBlockCount)
	j.fixedBuf = make([]uint64, 0, c.GridBlockCount)
	j.pre = make([]blockEntry, 0, c.GridBlockCount)
	j.preSet = newFreeSet(c.GridBlockCount)
	j.repSet = newFreeSet(c.GridBlockCount)
	j.repairs = make([]repair, 0, RepairsMax)
	j.preSegment = -1
	j.curStableSeg = -1
	j.preBuf = make([]byte, 0, c.GridBlockSize)
	j.preBlock = alignedBuffer(int(c.GridBlockSize))
	j.preDone = j.prewritten1
	invariants.Assert(j.wcfg.Check() == nil, "journal: wire config of an accepted superblock is invalid")
	j.initAppend()
	if !readOnly {
		if err := j.repairSuperblock(); err != nil {
			return nil, err
		}
	}
	if err := j.recoverWAL(); err != nil {
		return nil, err
	}
	if j.sb.VSR.Truncating {
		// A crash interrupted a truncation: finish it before anyone reads
		// the WAL (read-only: only in memory).
		if readOnly {
			j.forgetAbove(j.sb.VSR.TruncateAfter)
		} else if err := j.finishTruncate(); err != nil {
			return nil, err
		}
	}
	if err := j.loadFreeSet(); err != nil {
		return nil, err
	}
	j.loadIndexes()
	invariants.Assert(readOnly || !j.sb.VSR.Truncating, "journal: opened with a truncation still recorded")
	invariants.Assert(j.report.OpCheckpoint == j.sb.VSR.CheckpointOp && j.report.OpMax >= j.report.OpCheckpoint, "journal: recovery report does not start at the checkpoint")
	j.checkState()
	return j, nil
}

// repairSuperblock rewrites the copies that differ from the chosen one, so
// that a later update cannot leave an older quorum behind.
func (j *Journal) repairSuperblock() error {
	all := true
	for i := range j.copies {
		all = all && j.copies[i].Chosen
	}
	if all {
		return nil
	}
	sb := j.sb
	sb.Encode(j.sbBuf)
	invariants.Assert(sb.Checksum == j.sb.Checksum, "journal: superblock re-encoding changed its checksum")
	if err := j.writeSuperblockCopies(func(i int) bool { return !j.copies[i].Chosen }); err != nil {
		return err
	}
	for i := range j.copies {
		j.copies[i] = CopyStatus{Sequence: sb.Sequence, Checksum: sb.Checksum, Chosen: true}
	}
	invariants.Assert(j.sb == sb, "journal: superblock repair changed the superblock")
	return nil
}

// loadFreeSet reads the checkpoint's free set. A corrupt free set does not
// fail Open: it is rebuilt from the checkpoint's block references (the
// blocks every referenced blob chain names, as far as each chain reads,
// and the free set's own first block), and GridFault reports the damage.
// The rebuilt set holds every block of the checkpoint that is still of use,
// so the next checkpoint, which writes a sound free set, overwrites none of
// them; the blocks it may reuse belong to the unreadable free set itself or
// to a blob that is already damaged (a checkpoint that then has to come
// from a peer, by state sync).
func (j *Journal) loadFreeSet() error {
	invariants.Assert(j.acquired.count == uint64(j.layout.Config.GridBlockCount), "journal: free set not sized to the grid")
	ref := j.sb.VSR.Refs[RefFreeSet]
	b, err := j.ReadBlob(ref, BlockFreeSet, j.blobBuf[:0])
	if err == nil && ref.IsZero() {
		j.acquired.reset()
		return nil
	}
	if err == nil {
		err = j.acquired.decode(b)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("free set: %w", err)
		}
		j.gridFault = fmt.Errorf("free set: %w (rebuilt from the checkpoint's references)", err)
		j.rebuildFreeSet()
	}
	invariants.Assert(j.gridFault == nil || errors.Is(j.gridFault, ErrCorrupt), "journal: grid fault that is not corruption")
	return nil
}

// loadIndexes reads the durable checkpoint's blob indexes into cur, so the
// next checkpoint can share their unchanged blocks. An index that does not
// verify (or a free set that had to be rebuilt) leaves curKnown false: the
// next checkpoint shares nothing and writes every block.
func (j *Journal) loadIndexes() {
	j.curKnown, j.curBuf = false, j.curBuf[:0]
	if j.gridFault != nil {
		return
	}
	for i, ref := range j.sb.VSR.Refs {
		start := len(j.curBuf)
		var err error
		j.curBuf, err = j.loadEntries(ref, BlockType(i+1), j.curBuf)
		if err != nil {
			j.cur, j.curBuf = [refCount][]blockEntry{}, j.curBuf[:0]
			return
		}
		j.cur[i] = j.curBuf[start:len(j.curBuf):len(j.curBuf)]
		for k := range j.cur[i] {
			if !j.acquired.isAcquired(j.cur[i][k].address) {
				// The free set and the index disagree: share nothing.
				j.cur, j.curBuf = [refCount][]blockEntry{}, j.curBuf[:0]
				return
			}
		}
	}
	j.curKnown = true
	j.knowStable()
	invariants.Assert(len(j.curBuf) <= int(j.layout.Config.GridBlockCount), "journal: indexes name more blocks than the grid holds")
	invariants.Assert(len(j.cur[RefState]) == 0 || j.acquired.isAcquired(j.cur[RefState][0].address), "journal: the state's first block is free")
}

// rebuildFreeSet recomputes the acquired blocks from the superblock's
// references: every index block of each blob and every data block its
// index names, as far as the index verifies (the address of the first
// index block that does not verify included).
func (j *Journal) rebuildFreeSet() {
	j.acquired.reset()
	visited := 0
	visit := func(a uint64) {
		invariants.Assert(a != 0 && a <= j.acquired.count, "journal: blob walk visits an address outside the grid")
		visited++
		if !j.acquired.isAcquired(a) {
			j.acquired.acquire(a)
		}
	}
	for i, ref := range j.sb.VSR.Refs {
		_ = j.walkBlob(ref, BlockType(i+1), visit)
	}
	invariants.Assert(j.acquired.acquired() <= visited, "journal: rebuilt free set holds blocks no blob named")
}

// GridFault returns the error that kept Open from loading the free set
// (wrapping ErrCorrupt), or nil. The free set was rebuilt from the
// checkpoint's references (see loadFreeSet); the next checkpoint writes a
// sound one.
func (j *Journal) GridFault() error {
	invariants.Assert(j.gridFault == nil || errors.Is(j.gridFault, ErrCorrupt), "journal: grid fault that is not corruption")
	return j.gridFault
}

// Layout returns the file's layout.
func (j *Journal) Layout() Layout {
	invariants.Assert(j.layout.Config == j.sb.Config, "journal: layout of another config than the superblock's")
	invariants.Assert(j.layout.Size <= j.storage.Size(), "journal: layout larger than its storage")
	return j.layout
}

// Superblock returns the durable superblock.
func (j *Journal) Superblock() Superblock {
	invariants.Assert(j.sb.Sequence >= 1, "journal: superblock without a sequence")
	invariants.Assert(j.sb.Config == j.layout.Config, "journal: superblock of another config than the layout's")
	return j.sb
}

// Copies returns the state of each superblock copy as read at open (after
// a read-write open, all copies agree).
func (j *Journal) Copies() [SuperblockCopies]CopyStatus {
	chosen := 0
	for i := range j.copies {
		if j.copies[i].Chosen {
			chosen++
		}
	}
	invariants.Assert(chosen >= SuperblockQuorum, "journal: superblock chosen by fewer copies than a quorum")
	invariants.Assert(j.readOnly || chosen == SuperblockCopies, "journal: superblock copies disagree after a read-write open")
	return j.copies
}

// Report returns the WAL recovery report of Open.
func (j *Journal) Report() *Report {
	invariants.Assert(len(j.report.Slots) == int(j.layout.Config.SlotCount), "journal: report does not cover every slot")
	invariants.Assert(j.report.OpMax >= j.report.OpCheckpoint, "journal: report op_max below its checkpoint")
	return &j.report
}

// GridUsage returns the number of acquired grid blocks and the total.
func (j *Journal) GridUsage() (acquired, total int) {
	acquired, total = j.acquired.acquired(), int(j.layout.Config.GridBlockCount)
	invariants.Assert(acquired <= total, "journal: more blocks acquired than the grid holds")
	invariants.Assert(j.acquired.count == uint64(total), "journal: free set not sized to the grid")
	return acquired, total
}

// SetVSR durably records view, log_view and the commit numbers. They only
// move forward (panics otherwise); the checkpoint is changed by Checkpoint.
func (j *Journal) SetVSR(view, logView uint32, commitMin, commitMax uint64) error {
	j.checkWritable()
	next := j.sb.VSR
	next.View, next.LogView, next.CommitMin, next.CommitMax = view, logView, commitMin, commitMax
	seq := j.sb.Sequence
	err := j.writeSuperblock(next)
	invariants.Assert(err != nil || j.sb.VSR == next, "journal: SetVSR did not record the state")
	invariants.Assert(err != nil || j.sb.Sequence == seq+1, "journal: SetVSR did not advance the superblock sequence")
	return err
}

// SetVSRLog is SetVSR that also records the head op of the log the
// replica claims at this log_view (VSRState.LogOp): replaced when log_view
// grows, never lowered within one log_view. A non-zero anchor is the
// checksum of the replica's header at logOp: it becomes the log anchor
// (VSRState.LogAnchorOp, LogAnchor) when log_view grows or logOp is at or
// above the anchor's op (a repair during a view change may replace an
// uncommitted op the anchor named: the newest header wins); a zero anchor
// (a head recovery only infers) leaves it, but for a new log_view, where
// it clears it.
func (j *Journal) SetVSRLog(view, logView uint32, logOp uint64, anchor wire.Uint128, commitMin, commitMax uint64) error {
	j.checkWritable()
	next := j.sb.VSR
	if logView > next.LogView {
		next.LogOp = logOp
		next.LogAnchorOp, next.LogAnchor = 0, wire.Uint128{}
	} else {
		next.LogOp = max(next.LogOp, logOp)
	}
	if !anchor.IsZero() && (next.LogAnchor.IsZero() || logOp >= next.LogAnchorOp) {
		next.LogAnchorOp, next.LogAnchor = logOp, anchor
	}
	// The anchor names a header of the claimed log: never above its head.
	invariants.Assert(next.LogAnchorOp <= next.LogOp, "journal: log anchor above the log head")
	invariants.Assert(!next.LogAnchor.IsZero() || next.LogAnchorOp == 0, "journal: log anchor op without a checksum")
	next.View, next.LogView, next.CommitMin, next.CommitMax = view, logView, commitMin, commitMax
	return j.writeSuperblock(next)
}

// SetRejoined durably clears VSRState.Rejoining: the replica has caught up
// with its cluster and votes in view changes from now on.
func (j *Journal) SetRejoined() error {
	j.checkWritable()
	next := j.sb.VSR
	next.Rejoining = false
	invariants.Assert(next.View >= next.LogView, "journal: rejoined with log_view above view")
	err := j.writeSuperblock(next)
	invariants.Assert(err != nil || !j.sb.VSR.Rejoining, "journal: rejoining still set after SetRejoined")
	return err
}

// SetStarted durably sets VSRState.Started: a replica runs on this file
// (it has not sent anything yet). A no-op when it is already set.
func (j *Journal) SetStarted() error {
	j.checkWritable()
	if j.sb.VSR.Started {
		return nil
	}
	next := j.sb.VSR
	next.Started = true
	invariants.Assert(next.View >= next.LogView, "journal: started with log_view above view")
	err := j.writeSuperblock(next)
	invariants.Assert(err != nil || j.sb.VSR.Started, "journal: started not set after SetStarted")
	return err
}

func (j *Journal) checkWritable() {
	invariants.Assert(!j.readOnly, "journal: write on a read-only journal")
	invariants.Assert(!j.append.active, "journal: operation while SubmitPrepares is in flight")
}

// checkState verifies, in invariants builds, that the in-memory state
// agrees with itself: every known slot's trusted header is the op the
// report names, in its slot and within slot_count above the checkpoint
// (or at or below it, an op the checkpoint covers); the report's bounds
// hold; the pending redundant headers are of trusted prepares of distinct
// slots; the free set holds the current checkpoint's blobs only.
func (j *Journal) checkState() {
	if !invariants.Enabled {
		return
	}
	c := j.layout.Config
	cp := j.sb.VSR.CheckpointOp
	r := &j.report
	invariants.Assert(len(r.Slots) == int(c.SlotCount) && len(j.trusted) == int(c.SlotCount), "journal: per-slot state not sized to the ring")
	// OpCheckpoint and OpMax are as of Open (a truncation lowers OpMax).
	invariants.Assert(r.OpMax >= r.OpCheckpoint && r.OpMax-r.OpCheckpoint <= uint64(c.SlotCount) && r.OpCheckpoint <= cp, "journal: op_max outside the ring above the checkpoint")
	for slot := range r.Slots {
		s := &r.Slots[slot]
		invariants.Assert(s.Slot == uint32(slot), "journal: slot report of another slot")
		if !s.Known {
			continue
		}
		t := &j.trusted[slot]
		if t.Op != s.Op || t.Checksum != s.Checksum || t.View != s.View || j.layout.SlotOf(t.Op) != uint32(slot) {
			invariants.Failf("journal: slot %d: trusted header op %d does not match its report (op %d)", slot, t.Op, s.Op)
		}
		invariants.Assert(t.Command == wire.CommandPrepare, "journal: trusted header is not a prepare")
		if s.Op > cp+uint64(c.SlotCount) {
			invariants.Failf("journal: slot %d holds op %d, beyond the ring above checkpoint %d", slot, s.Op, cp)
		}
	}
	seen := make([]bool, c.SlotCount)
	for i := range j.pending {
		slot := j.layout.SlotOf(j.pending[i].Op)
		invariants.Assert(!seen[slot], "journal: two pending redundant headers for one slot")
		seen[slot] = true
		invariants.Assert(j.trusted[slot].Checksum == j.pending[i].Checksum, "journal: pending redundant header is not its slot's trusted prepare")
	}
	invariants.Assert(len(j.dirtySectors) == int(j.layout.WALHeaders.Size/SectorSize), "journal: dirty sector map not sized to the ring")
	if j.gridFault == nil && !j.readOnly {
		want := 0
		for i, ref := range j.sb.VSR.Refs {
			n := len(j.cur[i])
			want += n + j.indexBlocksFor(n)
			invariants.Assert(ref.IsZero() || j.acquired.isAcquired(ref.Address), "journal: a checkpoint blob starts in a free block")
			invariants.Assert(!j.curKnown || (n == 0) == ref.IsZero(), "journal: a blob's known blocks do not match its reference")
		}
		invariants.Assert(!j.curKnown || j.acquired.acquired() == want, "journal: free set does not hold exactly the checkpoint's blocks")
	}
}
