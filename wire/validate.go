package wire

import (
	"fmt"
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
)

// field names a header field that command rules constrain.
type field uint8

const (
	fieldParent field = iota
	fieldClient
	fieldContext
	fieldOp
	fieldCommit
	fieldTimestamp
	fieldSession
	fieldOpMin
	fieldLogView
	fieldRequest
	fieldReplica
	fieldOperation
	fieldReason
	fieldBody
	fieldCount
)

var fieldNames = [fieldCount]string{
	fieldParent:    "parent",
	fieldClient:    "client",
	fieldContext:   "context",
	fieldOp:        "op",
	fieldCommit:    "commit",
	fieldTimestamp: "timestamp",
	fieldSession:   "session",
	fieldOpMin:     "op_min",
	fieldLogView:   "log_view",
	fieldRequest:   "request",
	fieldReplica:   "replica",
	fieldOperation: "operation",
	fieldReason:    "reason",
	fieldBody:      "body",
}

// fields is a set of fields, one bit each.
type fields uint16

func set(fs ...field) fields {
	var s fields
	for _, f := range fs {
		invariants.Assert(f < fieldCount, "wire: unknown header field")
		s |= 1 << f
	}
	return s
}

func (s fields) has(f field) bool { return s&(1<<f) != 0 }

// nonZero returns the set of constrained fields that are non-zero in h (for
// fieldBody: a non-empty body). Straight-line code: this runs for every
// message received.
func (h *Header) nonZero() fields {
	var s fields
	if !h.Parent.IsZero() {
		s |= 1 << fieldParent
	}
	if !h.Client.IsZero() {
		s |= 1 << fieldClient
	}
	if !h.Context.IsZero() {
		s |= 1 << fieldContext
	}
	if h.Op != 0 {
		s |= 1 << fieldOp
	}
	if h.Commit != 0 {
		s |= 1 << fieldCommit
	}
	if h.Timestamp != 0 {
		s |= 1 << fieldTimestamp
	}
	if h.Session != 0 {
		s |= 1 << fieldSession
	}
	if h.OpMin != 0 {
		s |= 1 << fieldOpMin
	}
	if h.LogView != 0 {
		s |= 1 << fieldLogView
	}
	if h.Request != 0 {
		s |= 1 << fieldRequest
	}
	if h.Replica != 0 {
		s |= 1 << fieldReplica
	}
	if h.Operation != OperationNone {
		s |= 1 << fieldOperation
	}
	if h.Reason != 0 {
		s |= 1 << fieldReason
	}
	if h.Size != HeaderSize {
		s |= 1 << fieldBody
	}
	return s
}

// first returns the lowest field in a non-empty set.
func (s fields) first() field {
	invariants.Assert(s != 0 && s < 1<<fieldCount, "wire: first field of an empty or unknown set")
	return field(bits.TrailingZeros16(uint16(s)))
}

// commandSpec is the shape of one command's header: which fields it uses,
// which of those must be set, and any further rules.
type commandSpec struct {
	uses     fields // fields the command may set; the rest must be zero
	requires fields // fields that must be non-zero
}

// Fields every command may use and that the generic checks cover: checksums,
// cluster, size, view, protocol, command and reserved are checked for all.
var commandSpecs = [commandCount]commandSpec{
	CommandPing: {
		uses:     set(fieldReplica, fieldTimestamp, fieldOp, fieldContext),
		requires: set(fieldTimestamp),
	},
	CommandPong: {
		uses:     set(fieldReplica, fieldTimestamp, fieldContext),
		requires: set(fieldTimestamp),
	},
	CommandRequest: {
		uses:     set(fieldParent, fieldClient, fieldSession, fieldRequest, fieldOperation, fieldBody),
		requires: set(fieldClient, fieldOperation),
	},
	CommandPrepare: {
		uses: set(fieldReplica, fieldParent, fieldClient, fieldContext, fieldOp, fieldCommit,
			fieldTimestamp, fieldSession, fieldRequest, fieldOperation, fieldBody),
		requires: set(fieldOperation),
	},
	CommandPrepareOK: {
		uses:     set(fieldReplica, fieldParent, fieldClient, fieldContext, fieldOp, fieldCommit, fieldRequest),
		requires: set(fieldOp, fieldContext),
	},
	CommandReply: {
		uses: set(fieldReplica, fieldClient, fieldContext, fieldOp, fieldCommit,
			fieldTimestamp, fieldSession, fieldRequest, fieldOperation, fieldBody),
		requires: set(fieldClient, fieldContext, fieldOp, fieldCommit, fieldTimestamp, fieldOperation),
	},
	CommandCommit: {
		uses: set(fieldReplica, fieldContext, fieldOp, fieldCommit, fieldTimestamp),
	},
	CommandStartViewChange: {
		uses: set(fieldReplica),
	},
	CommandDoViewChange: {
		// timestamp: 0 for a whole journal; for a damaged one the highest
		// op the sender may have acknowledged (at least op). parent: for a
		// damaged one, the checksum of a header of the log it stands for
		// at log_view (its anchor), or 0.
		uses: set(fieldReplica, fieldParent, fieldContext, fieldOp, fieldOpMin, fieldCommit, fieldLogView, fieldTimestamp, fieldBody),
	},
	CommandStartView: {
		// op_min: the op the view started at (the log its primary
		// installed), at most op.
		uses: set(fieldReplica, fieldContext, fieldOp, fieldOpMin, fieldCommit, fieldBody),
	},
	CommandRequestStartView: {
		uses: set(fieldReplica, fieldContext),
	},
	CommandRequestHeaders: {
		uses: set(fieldReplica, fieldOp, fieldOpMin),
	},
	CommandRequestPrepare: {
		uses: set(fieldReplica, fieldOp, fieldContext),
	},
	CommandHeaders: {
		uses: set(fieldReplica, fieldContext, fieldBody),
	},
	CommandEviction: {
		// client is required except for too_many_connections (checkEviction).
		uses:     set(fieldReplica, fieldClient, fieldSession, fieldReason),
		requires: set(fieldReason),
	},
	CommandRequestReply: {
		uses:     set(fieldReplica, fieldClient, fieldContext, fieldOp),
		requires: set(fieldClient, fieldContext, fieldOp),
	},
	CommandRequestBlocks: {
		uses:     set(fieldReplica, fieldBody),
		requires: set(fieldBody),
	},
	CommandBlock: {
		uses:     set(fieldReplica, fieldOp, fieldContext, fieldBody),
		requires: set(fieldOp, fieldContext, fieldBody),
	},
	CommandRequestSyncCheckpoint: {
		uses:     set(fieldReplica, fieldOp, fieldOpMin),
		requires: set(fieldOp),
	},
	CommandSyncCheckpoint: {
		uses:     set(fieldReplica, fieldOp, fieldOpMin, fieldCommit, fieldParent, fieldContext, fieldBody),
		requires: set(fieldOp, fieldParent, fieldContext),
	},
	CommandRedirect: {
		// The header's view is the sender's; context is the checksum of
		// the request redirected.
		uses:     set(fieldReplica, fieldClient, fieldContext),
		requires: set(fieldClient, fieldContext),
	},
	CommandPeerAuth: {
		uses:     set(fieldReplica, fieldBody),
		requires: set(fieldBody),
	},
	CommandRequestSyncManifest: {
		uses:     set(fieldReplica, fieldOp, fieldOpMin),
		requires: set(fieldOp),
	},
	CommandSyncManifest: {
		uses:     set(fieldReplica, fieldOp, fieldOpMin, fieldCommit, fieldParent, fieldContext, fieldBody),
		requires: set(fieldOp, fieldParent, fieldContext, fieldCommit, fieldBody),
	},
	CommandRequestStable: {
		uses:     set(fieldReplica, fieldOpMin, fieldCommit),
		requires: set(fieldCommit),
	},
	CommandStable: {
		uses:     set(fieldReplica, fieldOpMin, fieldCommit, fieldBody),
		requires: set(fieldCommit, fieldBody),
	},
}

// Prebuilt errors, so rejecting a header never allocates.
var (
	errMustBeZero    [commandCount][fieldCount]*FieldError
	errMustBeNonZero [commandCount][fieldCount]*FieldError

	errSizeBelowHeader = newFieldError(ErrSize, CommandReserved, "size", "is below the header size")
	errSizeAboveMax    = newFieldError(ErrSize, CommandReserved, "size", "is above the maximum message size")
	errSizeBody        = newFieldError(ErrSize, CommandReserved, "size", "does not match the body length")
	errCommand         = newFieldError(ErrCommand, CommandReserved, "command", "is reserved or unknown")
	errProtocol        = newFieldError(ErrProtocol, CommandReserved, "protocol", "is not this build's protocol version")
	errCluster         = newFieldError(ErrCluster, CommandReserved, "cluster", "is not this cluster")
	errReserved        = newFieldError(ErrReserved, CommandReserved, "reserved", "must be zero")

	errReplica [commandCount]*FieldError

	errRequestOperation      = newFieldError(ErrField, CommandRequest, "operation", "is not one a client may request")
	errRegisterSession       = newFieldError(ErrField, CommandRequest, "session", "must be zero for register")
	errRegisterRequest       = newFieldError(ErrField, CommandRequest, "request", "must be zero for register")
	errRegisterParent        = newFieldError(ErrField, CommandRequest, "parent", "must be zero for register")
	errRegisterBody          = newFieldError(ErrSize, CommandRequest, "body", "must be empty for register")
	errRequestSession        = newFieldError(ErrField, CommandRequest, "session", "must be non-zero after register")
	errRequestNumber         = newFieldError(ErrField, CommandRequest, "request", "must be non-zero after register")
	errPrepareRootFields     = newFieldError(ErrField, CommandPrepare, "op", "is 0 but the header is not the root prepare")
	errPrepareRootOperation  = newFieldError(ErrField, CommandPrepare, "operation", "root is only valid at op 0")
	errPrepareOperation      = newFieldError(ErrField, CommandPrepare, "operation", "is unknown")
	errPrepareCommit         = newFieldError(ErrField, CommandPrepare, "commit", "must be below op")
	errPrepareTimestamp      = newFieldError(ErrField, CommandPrepare, "timestamp", "must be non-zero after op 0")
	errPrepareParent         = newFieldError(ErrField, CommandPrepare, "parent", "must be non-zero after op 0")
	errReplyOperation        = newFieldError(ErrField, CommandReply, "operation", "is not one a client may request")
	errReplyCommit           = newFieldError(ErrField, CommandReply, "commit", "must be at least op")
	errCommitContext         = newFieldError(ErrField, CommandCommit, "context", "must be non-zero when commit is non-zero")
	errDoViewChangeLogView   = newFieldError(ErrField, CommandDoViewChange, "log_view", "must not exceed view")
	errDoViewChangeBody      = newFieldError(ErrSize, CommandDoViewChange, "body", "must be a whole number of headers")
	errDoViewChangeDamaged   = newFieldError(ErrField, CommandDoViewChange, "timestamp", "must be zero or at least op")
	errDoViewChangeAnchor    = newFieldError(ErrField, CommandDoViewChange, "parent", "must be zero when timestamp is zero")
	errStartViewCommit       = newFieldError(ErrField, CommandStartView, "commit", "must not exceed op")
	errStartViewOpMin        = newFieldError(ErrField, CommandStartView, "op_min", "must not exceed op")
	errStartViewBody         = newFieldError(ErrSize, CommandStartView, "body", "must be a whole number of headers")
	errRequestHeadersRange   = newFieldError(ErrField, CommandRequestHeaders, "op_min", "must not exceed op")
	errHeadersBody           = newFieldError(ErrSize, CommandHeaders, "body", "must be a whole number of headers")
	errEvictionReason        = newFieldError(ErrField, CommandEviction, "reason", "is unknown")
	errRefusalClient         = newFieldError(ErrField, CommandEviction, "client", "must be zero for too_many_connections")
	errRefusalSession        = newFieldError(ErrField, CommandEviction, "session", "must be zero for too_many_connections")
	errRefusalView           = newFieldError(ErrField, CommandEviction, "view", "must be zero for too_many_connections")
	errRequestBlocksBody     = newFieldError(ErrSize, CommandRequestBlocks, "body", "must be a whole number of block references")
	errRequestBlocksTooMany  = newFieldError(ErrSize, CommandRequestBlocks, "body", "lists more blocks than allowed in one request")
	errSyncCheckpointChunk   = newFieldError(ErrField, CommandSyncCheckpoint, "op_min", "plus the chunk runs past the checkpoint size (commit)")
	errPeerAuthBody          = newFieldError(ErrSize, CommandPeerAuth, "body", "must be exactly PeerAuthBodySize bytes")
	errSyncManifestBody      = newFieldError(ErrSize, CommandSyncManifest, "body", "must be a whole number of chunk checksums")
	errSyncManifestRange     = newFieldError(ErrField, CommandSyncManifest, "op_min", "plus the entries runs past the checkpoint's chunks (commit)")
	errStableBody            = newFieldError(ErrSize, CommandStable, "body", "must be commit bytes long")
	errRequestOperationNoop  = newFieldError(ErrField, CommandRequest, "operation", "root, noop and batch are the replica's own")
	errReplyOperationReserve = newFieldError(ErrField, CommandReply, "operation", "root, noop and batch are never replied")
)

func init() {
	for c := Command(1); c < commandCount; c++ {
		// A command can only require a field it uses.
		invariants.Assert(commandSpecs[c].requires&^commandSpecs[c].uses == 0, "wire: a command requires a field it does not use")
		for f := field(0); f < fieldCount; f++ {
			errMustBeZero[c][f] = newFieldError(ErrField, c, fieldNames[f], "must be zero")
			errMustBeNonZero[c][f] = newFieldError(ErrField, c, fieldNames[f], "must be non-zero")
			if f == fieldBody {
				errMustBeZero[c][f] = newFieldError(ErrSize, c, "body", "must be empty")
				errMustBeNonZero[c][f] = newFieldError(ErrSize, c, "body", "must not be empty")
			}
		}
		errReplica[c] = newFieldError(ErrReplica, c, "replica", "is not below the replica count")
	}
}

// Validate checks every field of h against cfg and the rules of h's command.
// It does not verify checksums (DecodeHeader does). The error names the
// first field that is wrong and wraps one of the Err* kinds.
func (h *Header) Validate(cfg *Config) error {
	if h.Protocol != ProtocolVersion {
		return errProtocol
	}
	if h.Cluster != cfg.Cluster {
		return errCluster
	}
	if h.Size < HeaderSize {
		return errSizeBelowHeader
	}
	if h.Size > cfg.MessageSizeMax {
		return errSizeAboveMax
	}
	if !h.Command.Valid() {
		return errCommand
	}
	if h.Reserved != ([ReservedSize]byte{}) {
		return errReserved
	}
	invariants.Assert(h.Command.Valid(), "wire: validating the fields of an invalid command")
	spec := &commandSpecs[h.Command]
	if spec.uses.has(fieldReplica) && h.Replica >= cfg.ReplicaCount {
		return errReplica[h.Command]
	}
	nonZero := h.nonZero()
	if unused := nonZero &^ spec.uses; unused != 0 {
		return errMustBeZero[h.Command][unused.first()]
	}
	if missing := spec.requires &^ nonZero; missing != 0 {
		return errMustBeNonZero[h.Command][missing.first()]
	}
	return h.checkCommand()
}

// checkCommand applies the rules beyond used/required fields. A switch, not
// a table of funcs: an indirect call would make h escape to the heap.
func (h *Header) checkCommand() error {
	switch h.Command {
	case CommandRequest:
		return checkRequest(h)
	case CommandPrepare:
		return checkPrepare(h)
	case CommandReply:
		return checkReply(h)
	case CommandCommit:
		return checkCommit(h)
	case CommandDoViewChange:
		return checkDoViewChange(h)
	case CommandStartView:
		return checkStartView(h)
	case CommandRequestHeaders:
		return checkRequestHeaders(h)
	case CommandHeaders:
		return checkHeadersBody(h)
	case CommandEviction:
		return checkEviction(h)
	case CommandRequestBlocks:
		return checkRequestBlocks(h)
	case CommandSyncCheckpoint:
		return checkSyncCheckpoint(h)
	case CommandSyncManifest:
		return checkSyncManifest(h)
	case CommandStable:
		if uint64(h.BodySize()) != h.Commit {
			return errStableBody
		}
	case CommandPeerAuth:
		if h.BodySize() != PeerAuthBodySize {
			return errPeerAuthBody
		}
	}
	return nil
}

// PeerAuthBodySize is the size of a peer_auth message's body (its layout
// is the bus's; docs/protocol.md, "Peer authentication").
const PeerAuthBodySize = 128

// SyncChunkSize is the largest state sync chunk: the body of a message of
// at most messageSizeMax bytes. A cluster cuts its checkpoints into chunks
// of one size, a multiple of SyncManifestEntrySize up to this (every chunk
// but the last has it); a manifest names one checksum per chunk.
func SyncChunkSize(messageSizeMax uint32) uint64 {
	invariants.Assert(messageSizeMax > HeaderSize, "wire: sync chunk without room")
	return uint64(messageSizeMax) - HeaderSize
}

// SyncManifestEntrySize is the size of one chunk checksum in a manifest
// (u128, little endian), and the smallest chunk.
const SyncManifestEntrySize = 16

// checkSyncManifest: whole entries, and no more entries than a checkpoint
// of commit bytes has chunks of the smallest size.
func checkSyncManifest(h *Header) error {
	n := uint64(h.BodySize())
	if n%SyncManifestEntrySize != 0 {
		return errSyncManifestBody
	}
	count := h.Commit/SyncManifestEntrySize + min(h.Commit%SyncManifestEntrySize, 1)
	if h.OpMin > count || n/SyncManifestEntrySize > count-h.OpMin {
		return errSyncManifestRange
	}
	return nil
}

func checkSyncCheckpoint(h *Header) error {
	if h.OpMin+uint64(h.BodySize()) > h.Commit {
		return errSyncCheckpointChunk
	}
	return nil
}

func checkRequest(h *Header) error {
	switch h.Operation {
	case OperationRoot, OperationNoop, OperationBatch:
		return errRequestOperationNoop
	case OperationRegister:
		switch {
		case h.Session != 0:
			return errRegisterSession
		case h.Request != 0:
			return errRegisterRequest
		case !h.Parent.IsZero():
			return errRegisterParent
		case h.Size != HeaderSize:
			return errRegisterBody
		}
		return nil
	}
	if !h.Operation.valid() {
		return errRequestOperation
	}
	if h.Session == 0 {
		return errRequestSession
	}
	if h.Request == 0 {
		return errRequestNumber
	}
	return nil
}

func checkPrepare(h *Header) error {
	if !h.Operation.valid() {
		return errPrepareOperation
	}
	if h.Op == 0 {
		// The root prepare: only op 0, operation root, no content.
		if h.Operation != OperationRoot || h.Size != HeaderSize || !h.Parent.IsZero() ||
			!h.Client.IsZero() || !h.Context.IsZero() || h.Commit != 0 || h.Timestamp != 0 ||
			h.Session != 0 || h.Request != 0 || h.Replica != 0 {
			return errPrepareRootFields
		}
		return nil
	}
	if h.Operation == OperationRoot {
		return errPrepareRootOperation
	}
	if h.Commit >= h.Op {
		return errPrepareCommit
	}
	if h.Timestamp == 0 {
		return errPrepareTimestamp
	}
	if h.Parent.IsZero() {
		return errPrepareParent
	}
	return nil
}

func checkReply(h *Header) error {
	if h.Operation == OperationRoot || h.Operation == OperationNoop || h.Operation == OperationBatch {
		return errReplyOperationReserve
	}
	if !h.Operation.valid() {
		return errReplyOperation
	}
	if h.Commit < h.Op {
		return errReplyCommit
	}
	return nil
}

func checkCommit(h *Header) error {
	if h.Commit != 0 && h.Context.IsZero() {
		return errCommitContext
	}
	return nil
}

func checkDoViewChange(h *Header) error {
	if h.LogView > h.View {
		return errDoViewChangeLogView
	}
	if h.BodySize()%HeaderSize != 0 {
		return errDoViewChangeBody
	}
	if h.Timestamp != 0 && h.Timestamp < h.Op {
		return errDoViewChangeDamaged
	}
	if h.Timestamp == 0 && !h.Parent.IsZero() {
		return errDoViewChangeAnchor
	}
	return nil
}

func checkStartView(h *Header) error {
	if h.Commit > h.Op {
		return errStartViewCommit
	}
	if h.OpMin > h.Op {
		return errStartViewOpMin
	}
	if h.BodySize()%HeaderSize != 0 {
		return errStartViewBody
	}
	return nil
}

func checkRequestHeaders(h *Header) error {
	if h.OpMin > h.Op {
		return errRequestHeadersRange
	}
	return nil
}

func checkHeadersBody(h *Header) error {
	if h.BodySize()%HeaderSize != 0 {
		return errHeadersBody
	}
	return nil
}

func checkEviction(h *Header) error {
	if EvictionReason(h.Reason) >= evictionReasonCount {
		return errEvictionReason
	}
	if EvictionReason(h.Reason) == EvictionTooManyConnections {
		// Sent by the bus before it read anything from the connection: it
		// knows no client, session or view.
		switch {
		case !h.Client.IsZero():
			return errRefusalClient
		case h.Session != 0:
			return errRefusalSession
		case h.View != 0:
			return errRefusalView
		}
		return nil
	}
	if h.Client.IsZero() {
		return errMustBeNonZero[CommandEviction][fieldClient]
	}
	return nil
}

// BlockReferenceSize is the size of one (address u64, checksum u128) entry in
// a request_blocks body.
const BlockReferenceSize = 24

// RequestBlocksMax is the most block references one request_blocks may list.
const RequestBlocksMax = 64

func checkRequestBlocks(h *Header) error {
	n := h.BodySize()
	if n%BlockReferenceSize != 0 {
		return errRequestBlocksBody
	}
	if n/BlockReferenceSize > RequestBlocksMax {
		return errRequestBlocksTooMany
	}
	return nil
}

// EvictionReason says why a client's session was evicted, or (for
// EvictionTooManyConnections) why its connection was refused.
type EvictionReason uint8

// Eviction reasons. Zero is invalid on the wire.
const (
	// EvictionNoSession means the session is unknown (never registered, or
	// evicted earlier).
	EvictionNoSession EvictionReason = 1
	// EvictionTableFull means the session was the oldest when the client
	// table was full and another client registered.
	EvictionTableFull EvictionReason = 2
	// EvictionProtocolVersion means the client speaks an unsupported version.
	EvictionProtocolVersion EvictionReason = 3
	// EvictionSessionTooLow means the request named a session older than the
	// client's current one.
	EvictionSessionTooLow EvictionReason = 4
	// EvictionTooManyConnections means the replica had no connection slot
	// for a new connection: it sent this eviction as the only message on
	// the connection and closed it, before reading anything from it. It
	// ends no session. Client, session and view are zero.
	EvictionTooManyConnections EvictionReason = 5
	// EvictionReplyDropped means the request was a retry of the session's
	// last one, whose reply was larger than a reply slot and was dropped
	// for newer large replies (Limits.RepliesLargeMax): the request was
	// executed once, but its reply cannot be sent again. The session ends
	// for the client, which cannot know the outcome.
	EvictionReplyDropped EvictionReason = 6

	evictionReasonCount EvictionReason = 7
)

var evictionReasonNames = [evictionReasonCount]string{
	EvictionNoSession:          "no_session",
	EvictionTableFull:          "table_full",
	EvictionProtocolVersion:    "protocol_version",
	EvictionSessionTooLow:      "session_too_low",
	EvictionTooManyConnections: "too_many_connections",
	EvictionReplyDropped:       "reply_dropped",
}

// String returns the reason's name as docs/protocol.md spells it.
func (r EvictionReason) String() string {
	if r == 0 || r >= evictionReasonCount {
		return fmt.Sprintf("eviction_reason(%d)", uint8(r))
	}
	return evictionReasonNames[r]
}

// DecodeHeader verifies the header checksum of raw[0:HeaderSize], decodes it
// into h and validates it against cfg. Nothing in raw is trusted before the
// checksum matches. It never panics and never allocates.
func DecodeHeader(raw []byte, h *Header, cfg *Config) error {
	if len(raw) < HeaderSize {
		return ErrShort
	}
	raw = raw[:HeaderSize]
	if checksumHeader(raw) != getUint128(raw[OffsetChecksum:]) {
		return ErrChecksum
	}
	h.Decode(raw)
	err := h.Validate(cfg)
	// What a receiver relies on in a header that passed.
	invariants.Assert(err != nil || (h.Size >= HeaderSize && h.Size <= cfg.MessageSizeMax && h.Command.Valid()), "wire: accepted header has its size or command out of range")
	return err
}

// VerifyBody checks that body has the length h announces and matches
// h.ChecksumBody. Call it only on a header that DecodeHeader accepted.
func VerifyBody(h *Header, body []byte) error {
	if len(body) != h.BodySize() || h.Size < HeaderSize {
		return errSizeBody
	}
	if Checksum(body) != h.ChecksumBody {
		return ErrChecksumBody
	}
	return nil
}
