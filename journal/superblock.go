package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// SuperblockMagic identifies a Chronon data file ("CHRONON" + format byte 0).
const SuperblockMagic uint64 = 0x004e4f4e4f524843

// errBadMagic marks ErrForeign errors caused by a missing magic (as opposed
// to a known magic with another format version).
var errBadMagic = errors.New("bad magic")

// FormatVersion is the data file format version this build reads and writes.
// 4: the superblock carries the state machine's parameters (Params: the
// capacities chosen at format). Files of an older version refuse to open
// (ErrForeign) and are formatted again.
const FormatVersion uint32 = 5

// ParamsCount is the number of state machine parameters a superblock holds.
const ParamsCount = 4

// Byte offsets inside one superblock copy (one sector). The checksum covers
// bytes [16, SectorSize); bytes from superblockUsed on must be zero.
const (
	sbChecksum       = 0   // u128
	sbMagic          = 16  // u64
	sbVersion        = 24  // u32
	sbCluster        = 32  // u128
	sbParent         = 48  // u128: checksum of the previous superblock
	sbSequence       = 64  // u64
	sbReplica        = 72  // u8
	sbReplicaCount   = 73  // u8
	sbFlags          = 74  // u8: sbFlagRejoining | sbFlagTruncating | sbFlagStarted; bytes 75..79 zero
	sbMessageSizeMax = 80  // u32
	sbSlotCount      = 84  // u32
	sbClientsMax     = 88  // u32
	sbGridBlockSize  = 92  // u32
	sbGridBlockCount = 96  // u32
	sbView           = 104 // u32
	sbLogView        = 108 // u32
	sbCommitMin      = 112 // u64
	sbCommitMax      = 120 // u64
	sbCheckpointOp   = 128 // u64
	sbTruncateAfter  = 136 // u64: with sbFlagTruncating, the op a WAL truncation keeps
	sbCheckpointSum  = 144 // u128: checksum of the checkpoint's prepare
	sbRefs           = 160 // refCount × BlobRef (32 bytes each)
	blobRefSize      = 32
	sbLogOp          = sbRefs + refCount*blobRefSize // u64: head op of the log claimed at log_view
	sbLogAnchorOp    = sbLogOp + 8                   // u64: op of the log anchor (0: none)
	sbLogAnchor      = sbLogAnchorOp + 8             // u128: checksum of the log anchor's header
	sbParams         = sbLogAnchor + 16              // ParamsCount × u64: the state machine's parameters
	superblockUsed   = sbParams + ParamsCount*8

	sbFlagRejoining  = 1 << 0
	sbFlagTruncating = 1 << 1
	sbFlagStarted    = 1 << 2
	sbFlagsKnown     = sbFlagRejoining | sbFlagTruncating | sbFlagStarted
)

// Indexes of the checkpoint blobs referenced by the superblock.
const (
	RefFreeSet = iota
	RefSessions
	RefState
	// RefReserved is kept so the superblock layout stays put; it is always
	// the empty blob.
	RefReserved
	refCount
)

// RefNames names the checkpoint blobs, by Ref* index.
var RefNames = [refCount]string{"free_set", "client_sessions", "state", "reserved"}

// BlobRef references a blob stored in a chain of grid blocks: the first
// block's address and checksum, and the blob's length. The zero BlobRef is
// the empty blob.
type BlobRef struct {
	// Address is the grid address of the blob's first block (0: empty).
	Address uint64
	// Size is the blob's length in bytes.
	Size uint64
	// Checksum is the first block's header checksum.
	Checksum wire.Uint128
}

// IsZero reports whether r is the empty blob.
func (r BlobRef) IsZero() bool { return r == BlobRef{} }

// VSRState is the part of the superblock that the replica changes: it only
// moves forward (View, LogView, CommitMax and CheckpointOp never decrease).
type VSRState struct {
	// View is the replica's current view; LogView the last view in which
	// its status was normal.
	View    uint32
	LogView uint32
	// CommitMin is the highest op executed locally (at least the
	// checkpoint); CommitMax the highest op known committed.
	CommitMin uint64
	CommitMax uint64
	// CheckpointOp is the op of the latest checkpoint and CheckpointChecksum
	// the checksum of its prepare (0 and the root prepare after format).
	CheckpointOp       uint64
	CheckpointChecksum wire.Uint128
	// Refs are the checkpoint's blobs, by Ref* index.
	Refs [refCount]BlobRef
	// Rejoining marks a data file formatted to replace a lost one
	// (FormatOptions.Rejoin): the replica must not vote in a view change
	// until it has caught up. It only goes from true to false.
	Rejoining bool
	// Started marks a data file a replica has run on: set before the
	// replica first sends anything, never cleared. A restarted replica
	// must not resume as primary of its view, even with nothing
	// journaled (with prepares written while they are sent, a primary can
	// crash before its first write is durable while backups hold it).
	Started bool
	// Truncating says a WAL truncation keeping ops up to TruncateAfter is
	// under way: set before its first write, cleared after its last sync.
	// Open finishes one that a crash interrupted, so ops it discarded can
	// never come back (they may chain from a kept op like the ops that
	// replaced them).
	Truncating    bool
	TruncateAfter uint64
	// LogOp is the head op of the log this replica claimed when it made
	// LogView durable (a start_view it installed, a view it started, the
	// log it voted with). Recovery compares it with the journal: a journal
	// that ends below it lacks ops the replica stood for.
	LogOp uint64
	// LogAnchorOp and LogAnchor name a header of the log this replica
	// stood for at LogView: the highest op it recorded with its checksum
	// (the op it voted at, the op its view started at), or zero when it
	// knows none. Unlike LogOp, recovery never raises it to a bound the
	// journal only implies. By the hash chain the checksum names the
	// whole log up to LogAnchorOp, so a new primary can tell whether an
	// older log agrees with it (docs/replica.md, "Damaged journals vote").
	LogAnchorOp uint64
	LogAnchor   wire.Uint128
}

// Superblock is one decoded superblock copy.
type Superblock struct {
	// Checksum covers bytes [16, 4096) of the encoded copy.
	Checksum wire.Uint128
	// Parent is the checksum of the superblock this one replaced.
	Parent wire.Uint128
	// Sequence grows by one per update (format writes 1).
	Sequence uint64
	// Cluster, Replica and ReplicaCount identify the replica.
	Cluster      wire.Uint128
	Replica      uint8
	ReplicaCount uint8
	// Config is the file's static configuration (the layout follows).
	Config Config
	// Params are the state machine's parameters, chosen at format
	// (FormatOptions.Params) and never changed: opaque to the journal.
	// chronon format stores the capacities of the state machines
	// chronon start runs (docs/data-file.md, "Superblock").
	Params [ParamsCount]uint64
	// VSR is the durable replica state.
	VSR VSRState
}

func putU128(b []byte, u wire.Uint128) {
	invariants.Assert(len(b) >= 16, "journal: u128 written past the buffer")
	binary.LittleEndian.PutUint64(b, u.Lo)
	binary.LittleEndian.PutUint64(b[8:], u.Hi)
}

func getU128(b []byte) wire.Uint128 {
	invariants.Assert(len(b) >= 16, "journal: u128 read past the buffer")
	return wire.Uint128{Lo: binary.LittleEndian.Uint64(b), Hi: binary.LittleEndian.Uint64(b[8:])}
}

// Encode writes sb into b[0:SectorSize] and sets sb.Checksum (and the
// checksum field in b).
func (sb *Superblock) Encode(b []byte) {
	invariants.Assert(superblockUsed <= SectorSize && sbLogOp == sbRefs+refCount*blobRefSize, "journal: superblock fields overlap or overflow the sector")
	// Only a recorded truncation has an op: anything else would be lost
	// by the encoding (and rejected when read back).
	invariants.Assert(sb.VSR.Truncating || sb.VSR.TruncateAfter == 0, "journal: truncation op without a truncation")
	b = b[:SectorSize]
	clear(b)
	le := binary.LittleEndian
	le.PutUint64(b[sbMagic:], SuperblockMagic)
	le.PutUint32(b[sbVersion:], FormatVersion)
	putU128(b[sbCluster:], sb.Cluster)
	putU128(b[sbParent:], sb.Parent)
	le.PutUint64(b[sbSequence:], sb.Sequence)
	b[sbReplica] = sb.Replica
	b[sbReplicaCount] = sb.ReplicaCount
	if sb.VSR.Started {
		b[sbFlags] |= sbFlagStarted
	}
	if sb.VSR.Rejoining {
		b[sbFlags] |= sbFlagRejoining
	}
	if sb.VSR.Truncating {
		b[sbFlags] |= sbFlagTruncating
		le.PutUint64(b[sbTruncateAfter:], sb.VSR.TruncateAfter)
	}
	le.PutUint32(b[sbMessageSizeMax:], sb.Config.MessageSizeMax)
	le.PutUint32(b[sbSlotCount:], sb.Config.SlotCount)
	le.PutUint32(b[sbClientsMax:], sb.Config.ClientsMax)
	le.PutUint32(b[sbGridBlockSize:], sb.Config.GridBlockSize)
	le.PutUint32(b[sbGridBlockCount:], sb.Config.GridBlockCount)
	le.PutUint32(b[sbView:], sb.VSR.View)
	le.PutUint32(b[sbLogView:], sb.VSR.LogView)
	le.PutUint64(b[sbCommitMin:], sb.VSR.CommitMin)
	le.PutUint64(b[sbCommitMax:], sb.VSR.CommitMax)
	le.PutUint64(b[sbCheckpointOp:], sb.VSR.CheckpointOp)
	putU128(b[sbCheckpointSum:], sb.VSR.CheckpointChecksum)
	le.PutUint64(b[sbLogOp:], sb.VSR.LogOp)
	le.PutUint64(b[sbLogAnchorOp:], sb.VSR.LogAnchorOp)
	putU128(b[sbLogAnchor:], sb.VSR.LogAnchor)
	for i, v := range sb.Params {
		le.PutUint64(b[sbParams+8*i:], v)
	}
	for i, r := range sb.VSR.Refs {
		at := b[sbRefs+i*blobRefSize:]
		le.PutUint64(at, r.Address)
		le.PutUint64(at[8:], r.Size)
		putU128(at[16:], r.Checksum)
	}
	sb.Checksum = wire.Checksum(b[16:])
	putU128(b[sbChecksum:], sb.Checksum)
	invariants.Assert(b[sbFlags]&^sbFlagsKnown == 0, "journal: superblock encoded with unknown flags")
}

// DecodeSuperblock verifies and decodes one superblock copy. It never
// panics; errors wrap ErrForeign (wrong magic or version: not ours) or
// ErrCorrupt (checksum or field checks fail).
func DecodeSuperblock(b []byte, sb *Superblock) error {
	invariants.Assert(sb != nil, "journal: superblock decoded into nothing")
	if len(b) < SectorSize {
		return fmt.Errorf("%w: superblock copy is %d bytes", ErrCorrupt, len(b))
	}
	b = b[:SectorSize]
	le := binary.LittleEndian
	sum := wire.Checksum(b[16:])
	if sum != getU128(b[sbChecksum:]) {
		if le.Uint64(b[sbMagic:]) != SuperblockMagic {
			return fmt.Errorf("%w: %w %#x", ErrForeign, errBadMagic, le.Uint64(b[sbMagic:]))
		}
		return fmt.Errorf("%w: superblock checksum mismatch", ErrCorrupt)
	}
	if m := le.Uint64(b[sbMagic:]); m != SuperblockMagic {
		return fmt.Errorf("%w: %w %#x", ErrForeign, errBadMagic, m)
	}
	if v := le.Uint32(b[sbVersion:]); v != FormatVersion {
		return fmt.Errorf("%w: format version %d, this build reads %d", ErrForeign, v, FormatVersion)
	}
	for _, x := range b[superblockUsed:] {
		if x != 0 {
			return fmt.Errorf("%w: superblock padding not zero", ErrCorrupt)
		}
	}
	if b[sbFlags]&^sbFlagsKnown != 0 || b[75]|b[76]|b[77]|b[78]|b[79] != 0 {
		return fmt.Errorf("%w: unknown superblock flags %#x", ErrCorrupt, b[sbFlags])
	}
	if b[sbFlags]&sbFlagTruncating == 0 && le.Uint64(b[sbTruncateAfter:]) != 0 {
		return fmt.Errorf("%w: truncation op set without a truncation", ErrCorrupt)
	}
	*sb = Superblock{
		Checksum:     sum,
		Cluster:      getU128(b[sbCluster:]),
		Parent:       getU128(b[sbParent:]),
		Sequence:     le.Uint64(b[sbSequence:]),
		Replica:      b[sbReplica],
		ReplicaCount: b[sbReplicaCount],
		Config: Config{
			MessageSizeMax: le.Uint32(b[sbMessageSizeMax:]),
			SlotCount:      le.Uint32(b[sbSlotCount:]),
			ClientsMax:     le.Uint32(b[sbClientsMax:]),
			GridBlockSize:  le.Uint32(b[sbGridBlockSize:]),
			GridBlockCount: le.Uint32(b[sbGridBlockCount:]),
		},
		VSR: VSRState{
			View:               le.Uint32(b[sbView:]),
			LogView:            le.Uint32(b[sbLogView:]),
			CommitMin:          le.Uint64(b[sbCommitMin:]),
			CommitMax:          le.Uint64(b[sbCommitMax:]),
			CheckpointOp:       le.Uint64(b[sbCheckpointOp:]),
			CheckpointChecksum: getU128(b[sbCheckpointSum:]),
			Rejoining:          b[sbFlags]&sbFlagRejoining != 0,
			Started:            b[sbFlags]&sbFlagStarted != 0,
			Truncating:         b[sbFlags]&sbFlagTruncating != 0,
			TruncateAfter:      le.Uint64(b[sbTruncateAfter:]),
			LogOp:              le.Uint64(b[sbLogOp:]),
			LogAnchorOp:        le.Uint64(b[sbLogAnchorOp:]),
			LogAnchor:          getU128(b[sbLogAnchor:]),
		},
	}
	for i := range sb.Params {
		sb.Params[i] = le.Uint64(b[sbParams+8*i:])
	}
	for i := range sb.VSR.Refs {
		at := b[sbRefs+i*blobRefSize:]
		sb.VSR.Refs[i] = BlobRef{Address: le.Uint64(at), Size: le.Uint64(at[8:]), Checksum: getU128(at[16:])}
	}
	invariants.Assert(sb.VSR.Truncating || sb.VSR.TruncateAfter == 0, "journal: decoded truncation op without a truncation")
	return sb.check()
}

// check validates the decoded fields against each other.
func (sb *Superblock) check() error {
	if err := sb.Config.Check(); err != nil {
		return fmt.Errorf("%w: superblock config: %v", ErrCorrupt, err)
	}
	if sb.ReplicaCount == 0 || sb.ReplicaCount > wire.ReplicaCountMax || sb.Replica >= sb.ReplicaCount {
		return fmt.Errorf("%w: replica %d of %d", ErrCorrupt, sb.Replica, sb.ReplicaCount)
	}
	v := &sb.VSR
	if v.LogView > v.View {
		return fmt.Errorf("%w: log_view %d > view %d", ErrCorrupt, v.LogView, v.View)
	}
	if v.CommitMin > v.CommitMax || v.CheckpointOp > v.CommitMin {
		return fmt.Errorf("%w: checkpoint %d, commit_min %d, commit_max %d out of order", ErrCorrupt, v.CheckpointOp, v.CommitMin, v.CommitMax)
	}
	if v.LogAnchorOp > v.LogOp || (v.LogAnchor.IsZero() && v.LogAnchorOp != 0) {
		return fmt.Errorf("%w: log anchor op %d (log head %d, checksum zero %t)", ErrCorrupt, v.LogAnchorOp, v.LogOp, v.LogAnchor.IsZero())
	}
	for i, r := range v.Refs {
		if r.Address > uint64(sb.Config.GridBlockCount) || (r.Address == 0) != (r.Size == 0) || (r.Address == 0 && !r.Checksum.IsZero()) {
			return fmt.Errorf("%w: %s reference (address %d, size %d)", ErrCorrupt, RefNames[i], r.Address, r.Size)
		}
	}
	if v.Refs[RefReserved] != (BlobRef{}) {
		return fmt.Errorf("%w: reserved reference not empty", ErrCorrupt)
	}
	// What the checks above add up to (Open relies on it).
	invariants.Assert(v.CheckpointOp <= v.CommitMax && v.LogView <= v.View, "journal: accepted superblock with its VSR state out of order")
	return nil
}

// checkAdvance panics unless next is a legal successor of prev: view,
// log_view, commit_max and the checkpoint op only move forward.
func checkAdvance(prev, next *VSRState) {
	switch {
	case next.View < prev.View:
		invariants.Failf("journal: view goes back %d -> %d", prev.View, next.View)
	case next.LogView < prev.LogView:
		invariants.Failf("journal: log_view goes back %d -> %d", prev.LogView, next.LogView)
	case next.LogView > next.View:
		invariants.Failf("journal: log_view %d > view %d", next.LogView, next.View)
	case next.CommitMax < prev.CommitMax:
		invariants.Failf("journal: commit_max goes back %d -> %d", prev.CommitMax, next.CommitMax)
	case next.CheckpointOp < prev.CheckpointOp:
		invariants.Failf("journal: checkpoint goes back %d -> %d", prev.CheckpointOp, next.CheckpointOp)
	case prev.Started && !next.Started:
		invariants.Failf("journal: started flag cleared")
	case next.Rejoining && !prev.Rejoining:
		invariants.Failf("journal: rejoining set again after the replica rejoined")
	case next.CommitMin > next.CommitMax || next.CheckpointOp > next.CommitMin:
		invariants.Failf("journal: checkpoint %d, commit_min %d, commit_max %d out of order", next.CheckpointOp, next.CommitMin, next.CommitMax)
	case next.LogAnchorOp > next.LogOp || (next.LogAnchor.IsZero() && next.LogAnchorOp != 0):
		invariants.Failf("journal: log anchor op %d above log head %d or without a checksum", next.LogAnchorOp, next.LogOp)
	case next.CheckpointOp == prev.CheckpointOp && next.CheckpointChecksum != prev.CheckpointChecksum:
		invariants.Failf("journal: checkpoint %d changes its checksum", next.CheckpointOp)
	case next.Truncating && next.TruncateAfter < next.CheckpointOp:
		invariants.Failf("journal: truncation after op %d, below the checkpoint %d", next.TruncateAfter, next.CheckpointOp)
	}
}
