package wire

import (
	"encoding/binary"

	"github.com/chronon-db/chronon/internal/invariants"
)

// HeaderSize is the size in bytes of every message header.
const HeaderSize = 256

// ProtocolVersion is the wire protocol version this build speaks. A message
// with another version is rejected.
const ProtocolVersion uint16 = 1

// Byte offsets of the header fields. They are part of the wire format and of
// the on-disk format (the WAL stores prepare headers verbatim); TestHeaderLayout
// pins them.
const (
	OffsetChecksum     = 0   // u128: xxh3-128 of header bytes [16, 256)
	OffsetChecksumBody = 16  // u128: xxh3-128 of the body
	OffsetCluster      = 32  // u128: cluster id
	OffsetParent       = 48  // u128: checksum of the previous prepare (hash chain)
	OffsetClient       = 64  // u128: client id
	OffsetContext      = 80  // u128: command-specific checksum (see docs/protocol.md)
	OffsetOp           = 96  // u64: log position
	OffsetCommit       = 104 // u64: commit number (commit_max of the sender)
	OffsetTimestamp    = 112 // u64: primary-assigned timestamp (ns)
	OffsetSession      = 120 // u64: client session number
	OffsetOpMin        = 128 // u64: lower bound of an op range
	OffsetSize         = 136 // u32: header + body size in bytes
	OffsetView         = 140 // u32: view number
	OffsetLogView      = 144 // u32: last view in which the sender was normal
	OffsetRequest      = 148 // u32: client request number
	OffsetProtocol     = 152 // u16: protocol version
	OffsetCommand      = 154 // u8: Command
	OffsetReplica      = 155 // u8: sender replica index
	OffsetOperation    = 156 // u8: Operation
	OffsetReason       = 157 // u8: eviction reason
	OffsetReserved     = 158 // [98]byte: must be zero
)

// ReservedSize is the number of reserved bytes at the end of the header.
const ReservedSize = HeaderSize - OffsetReserved

// Header is the decoded form of the 256-byte message header. Which fields a
// command uses, and the rules they follow, are listed in docs/protocol.md and
// enforced by Validate. Fields a command does not use must be zero.
type Header struct {
	Checksum     Uint128
	ChecksumBody Uint128
	Cluster      Uint128
	Parent       Uint128
	Client       Uint128
	Context      Uint128
	Op           uint64
	Commit       uint64
	Timestamp    uint64
	Session      uint64
	OpMin        uint64
	Size         uint32
	View         uint32
	LogView      uint32
	Request      uint32
	Protocol     uint16
	Command      Command
	Replica      uint8
	Operation    Operation
	Reason       uint8
	Reserved     [ReservedSize]byte
}

// Encode writes h into b[0:HeaderSize] exactly as it is, checksums included.
// It panics if b is shorter than HeaderSize (a programming error).
func (h *Header) Encode(b []byte) {
	invariants.Assert(len(b) >= HeaderSize, "wire: header encoded into a short buffer")
	b = b[:HeaderSize]
	putUint128(b[OffsetChecksum:], h.Checksum)
	putUint128(b[OffsetChecksumBody:], h.ChecksumBody)
	putUint128(b[OffsetCluster:], h.Cluster)
	putUint128(b[OffsetParent:], h.Parent)
	putUint128(b[OffsetClient:], h.Client)
	putUint128(b[OffsetContext:], h.Context)
	le := binary.LittleEndian
	le.PutUint64(b[OffsetOp:], h.Op)
	le.PutUint64(b[OffsetCommit:], h.Commit)
	le.PutUint64(b[OffsetTimestamp:], h.Timestamp)
	le.PutUint64(b[OffsetSession:], h.Session)
	le.PutUint64(b[OffsetOpMin:], h.OpMin)
	le.PutUint32(b[OffsetSize:], h.Size)
	le.PutUint32(b[OffsetView:], h.View)
	le.PutUint32(b[OffsetLogView:], h.LogView)
	le.PutUint32(b[OffsetRequest:], h.Request)
	le.PutUint16(b[OffsetProtocol:], h.Protocol)
	b[OffsetCommand] = byte(h.Command)
	b[OffsetReplica] = h.Replica
	b[OffsetOperation] = byte(h.Operation)
	b[OffsetReason] = h.Reason
	copy(b[OffsetReserved:], h.Reserved[:])
}

// Decode reads h from b[0:HeaderSize] without checking anything; use
// DecodeHeader for bytes that come from outside. It panics if b is shorter
// than HeaderSize (a programming error).
func (h *Header) Decode(b []byte) {
	invariants.Assert(len(b) >= HeaderSize, "wire: header decoded from a short buffer")
	b = b[:HeaderSize]
	h.Checksum = getUint128(b[OffsetChecksum:])
	h.ChecksumBody = getUint128(b[OffsetChecksumBody:])
	h.Cluster = getUint128(b[OffsetCluster:])
	h.Parent = getUint128(b[OffsetParent:])
	h.Client = getUint128(b[OffsetClient:])
	h.Context = getUint128(b[OffsetContext:])
	le := binary.LittleEndian
	h.Op = le.Uint64(b[OffsetOp:])
	h.Commit = le.Uint64(b[OffsetCommit:])
	h.Timestamp = le.Uint64(b[OffsetTimestamp:])
	h.Session = le.Uint64(b[OffsetSession:])
	h.OpMin = le.Uint64(b[OffsetOpMin:])
	h.Size = le.Uint32(b[OffsetSize:])
	h.View = le.Uint32(b[OffsetView:])
	h.LogView = le.Uint32(b[OffsetLogView:])
	h.Request = le.Uint32(b[OffsetRequest:])
	h.Protocol = le.Uint16(b[OffsetProtocol:])
	h.Command = Command(b[OffsetCommand])
	h.Replica = b[OffsetReplica]
	h.Operation = Operation(b[OffsetOperation])
	h.Reason = b[OffsetReason]
	copy(h.Reserved[:], b[OffsetReserved:])
}

// BodySize returns the body length the header announces, or 0 when Size is
// below HeaderSize.
func (h *Header) BodySize() int {
	if h.Size < HeaderSize {
		return 0
	}
	return int(h.Size) - HeaderSize
}

// RootPrepare returns the header of op 0, the same on every replica of a
// cluster: the first link of the log's hash chain, written by format and
// assumed by every replica at start.
func RootPrepare(cluster Uint128) Header {
	h := Header{
		Cluster:   cluster,
		Size:      HeaderSize,
		Protocol:  ProtocolVersion,
		Command:   CommandPrepare,
		Operation: OperationRoot,
	}
	SealHeader(&h, nil)
	invariants.Assert(h.Op == 0 && !h.Checksum.IsZero(), "wire: root prepare not sealed at op 0")
	return h
}
