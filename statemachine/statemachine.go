// Package statemachine defines the interface between Chronon's replica and
// the deterministic state machines it replicates (the ledger, the KV store,
// user-defined ones).
//
// The replica calls a state machine only from its single event-loop
// goroutine, in commit order, with the same inputs on every replica. A state
// machine must therefore be deterministic: no wall clock, no randomness, no
// goroutines, no dependence on Go map iteration order, no I/O. The commit
// timestamp in Context is the only notion of time it may use.
package statemachine

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// Context describes the committed event being applied. It is the same on
// every replica.
type Context struct {
	// Op is the log position of the prepare that carries the event.
	Op uint64
	// Timestamp is the request's commit timestamp in nanoseconds, derived
	// from the primary's clock and strictly increasing along the log. Each
	// request owns a window of timestamps that no other request shares:
	// (Timestamp of the previous request, Timestamp], at least
	// len(input)+1 nanoseconds wide. A state machine that stamps n events
	// of one request (n <= len(input)+1) gives them Timestamp-n+1 through
	// Timestamp.
	Timestamp uint64
	// Client is the id of the client whose request this is.
	Client wire.Uint128
	// Request is the client's request number.
	Request uint32
}

// StateMachine is a deterministic state machine driven by committed requests.
type StateMachine interface {
	// Validate checks a request body without changing state; it only looks
	// at the bytes. Clients call it before sending. The replica does not
	// filter on it: a committed request is always applied, so Apply must
	// answer a body Validate rejects with an error result, never a panic.
	Validate(operation wire.Operation, input []byte) error

	// Apply executes one committed request and writes its reply into
	// reply, returning the number of bytes written. len(reply) is at least
	// ReplySizeMax(operation, len(input)); it may be longer (the replica
	// passes the room left in a message), and a machine may use all of it
	// (e.g. a listing that returns as much as fits). Apply must not
	// retain input or reply, must not fail (errors are part of the reply's
	// contents), and should not allocate on its hot path.
	Apply(ctx *Context, operation wire.Operation, input []byte, reply []byte) int

	// ReplySizeMax is the room the reply of an operation whose input has
	// the given size needs: the replica refuses a request whose reply
	// would not fit a message. An operation that fills whatever room it
	// gets (see Apply) returns the least room it needs.
	ReplySizeMax(operation wire.Operation, inputSize int) int

	// Digest returns a checksum of the whole state, equal on replicas that
	// applied the same log. It is cheap (maintained incrementally).
	Digest() wire.Uint128

	// Snapshot appends a deterministic encoding of the state to dst and
	// returns it; Restore replaces the state with a snapshot's contents.
	// Checkpoints store snapshots in grid blocks.
	Snapshot(dst []byte) []byte
	Restore(snapshot []byte) error

	// SnapshotSizeMax bounds the length of what Snapshot appends, for the
	// fullest state the machine admits. It is fixed by the machine's
	// configuration: a replica refuses to start on a data file whose grid
	// cannot hold two checkpoints of that size, so a full state machine
	// refuses work (with a named result) instead of outgrowing the grid.
	SnapshotSizeMax() int
}

// Capacity is how full a state machine is, for monitoring.
type Capacity struct {
	// Records is the number of records held (accounts and transfers,
	// keys ...); RecordsMax is the most it can hold.
	Records, RecordsMax uint64
	// RefusedFull counts the events this process's state machine refused
	// because it was full (the same on every replica that applied the
	// same ops since it started).
	RefusedFull uint64
}

// CapacityReporter is implemented by state machines that report their
// fill level (the ledger and the KV store do). Replicas export it as
// metrics.
type CapacityReporter interface {
	Capacity() Capacity
}

// ErrInvalidInput is wrapped by Validate and Restore errors for malformed
// bytes.
var ErrInvalidInput = errors.New("statemachine: invalid input")

// LocalClient is the client id of requests that components running beside
// the primary submit locally (replica.Replica.SubmitLocal), e.g. the
// outbox dispatcher's acknowledgements. The replica refuses it from the
// network; Context.Client is LocalClient exactly when a local request
// applies. Local requests have no session and no stored reply: applying
// one twice must change nothing (the submitter may resubmit after a
// failover).
var LocalClient = wire.Uint128{Lo: 0x6c61636f6c5f6d73, Hi: 0xffffffffffffffff}

// LocalOperations is implemented by state machines with operations that
// only components running beside the primary submit (through
// replica.Replica.SubmitLocal, as LocalClient), never network clients: the
// replica refuses such operations from the network, takes only them from
// SubmitLocal, and does not apply a local request of any other operation.
type LocalOperations interface {
	// LocalOnly reports whether operation is local-only. It must be a
	// fixed function of the operation.
	LocalOnly(operation wire.Operation) bool
}

// SegmentsMax is the most segments a SegmentedSnapshot may cut its
// snapshot into.
const SegmentsMax = 16

// SegmentedSnapshot is implemented by state machines whose snapshot is
// made of parts that change independently (a fixed-size table beside a log
// that only grows, say). Checkpoints store a snapshot in grid blocks and
// write only the blocks whose bytes changed since the previous checkpoint;
// no block spans a segment boundary, so a segment that grew does not shift
// the bytes of the next one into other blocks.
type SegmentedSnapshot interface {
	// SnapshotSegments appends the snapshot to dst exactly as Snapshot
	// does, and appends to ends the end offset of each segment, relative
	// to the snapshot's start (len(dst) at the call): not decreasing (a
	// segment may be empty, so a segment keeps its index while it is),
	// the last at most the snapshot's length (bytes after it form one more
	// segment), at most SegmentsMax of them.
	SnapshotSegments(dst []byte, ends []int) ([]byte, []int)
}

// StableSnapshot is a SegmentedSnapshot with a segment whose prefix never
// changes once written (an append-only log): every later snapshot repeats
// those bytes. Replicas write the full grid blocks of that prefix ahead,
// between checkpoints, so that a checkpoint writes little at its op.
type StableSnapshot interface {
	SegmentedSnapshot
	// SnapshotStable returns the segment (its index among the segments
	// SnapshotSegments cuts) and the length of its stable prefix. The
	// length only grows, except when Restore replaces the state.
	SnapshotStable() (segment, size int)
	// AppendSnapshotRange appends bytes [from, to) of that segment of the
	// current snapshot to dst, 0 <= from <= to <= the stable length.
	AppendSnapshotRange(dst []byte, from, to int) []byte
	// SnapshotOver is SnapshotSegments for a caller that keeps its
	// snapshots in one buffer: prev > 0 says that the prev bytes after
	// len(dst) (within cap(dst)) still hold, unchanged, the snapshot this
	// machine's previous SnapshotOver call produced at that same place.
	// The machine may then leave the stable bytes of that snapshot in
	// place instead of copying them again. prev 0 promises nothing.
	// skip > 0 says the caller does not read the first skip bytes of the
	// stable prefix from dst (it reads them through AppendSnapshotRange or
	// the grid): the machine may leave them unwritten. A caller that skips
	// fewer bytes than its previous call did passes prev 0 (the bytes
	// between were not written).
	SnapshotOver(dst []byte, ends []int, prev, skip int) ([]byte, []int)
}

// ErrStableRead is wrapped by the errors of StableStore.ReadStable and of
// GridBacked.Prefetch: bytes of the stable prefix could not be read back
// (an I/O error, or a block that fails its checksum).
var ErrStableRead = errors.New("statemachine: stable prefix not readable")

// StableReadError is a failed read of the stable prefix: bytes [From, To)
// (one store unit) could not be read back. Peers hold the same bytes in
// their stable prefix; RepairStable takes them. It wraps ErrStableRead.
type StableReadError struct {
	From, To int
	Err      error
}

func (e *StableReadError) Error() string {
	return fmt.Sprintf("statemachine: stable bytes [%d, %d) not readable: %v", e.From, e.To, e.Err)
}

// Unwrap returns ErrStableRead and the cause.
func (e *StableReadError) Unwrap() []error { return []error{ErrStableRead, e.Err} }

// StableStore reads back the stable prefix of a GridBacked machine's stable
// segment from the replica's durable storage, where the checkpoints put it
// (the grid blocks of the durable checkpoint).
type StableStore interface {
	// StableHeld returns how many leading bytes of the stable prefix the
	// store holds durably and can read: a multiple of StableUnit.
	StableHeld() int
	// StableUnit is the granularity of StableHeld (a grid block's payload).
	StableUnit() int
	// ReadStable appends bytes [from, to) of the stable prefix to dst,
	// to <= StableHeld(), each verified against its checksum. Errors wrap
	// ErrStableRead.
	ReadStable(dst []byte, from, to int) ([]byte, error)
	// VerifyStable reads the unit of the stable prefix starting at from
	// from durable storage, bypassing any cache, and verifies it (a
	// scrubber's read). Errors are *StableReadError.
	VerifyStable(from int) error
	// RepairStable writes b, a peer's copy of the unit of the stable
	// prefix starting at from, in place of a damaged one: the store
	// checks it against what it expects there and refuses (an error)
	// bytes that do not match.
	RepairStable(from int, b []byte) error
	// Release tells the store that the machine no longer uses b's
	// contents (records it dropped from memory): the store may give their
	// memory pages back to the operating system. b's bytes are undefined
	// afterwards (zero where pages were given back).
	Release(b []byte)
}

// GridBacked is a StableSnapshot that drops from memory the part of its
// stable prefix the durable checkpoint holds (StableStore.StableHeld), and
// reads it back through its StableStore when a request needs it. The
// replica then neither copies nor keeps those bytes either: its
// checkpoints omit them (the journal references the durable checkpoint's
// blocks), and state sync serves them through ReadSnapshotRange.
//
// Reads happen only in Prefetch, never in Apply: before applying the
// requests of a prepare, the replica calls PrefetchReset, then Prefetch for
// each request in order; only when all succeed does it apply them (a
// failure is a StableReadError: the replica asks a peer for the bytes,
// RepairStable, and tries again). The primary keeps a prepare's
// PrefetchCost within PrefetchCapacity. ScrubStable lets the replica verify
// the omitted bytes in turn. A machine without a store (SetStableStore
// never called, or nil) keeps everything in memory and its Prefetch does
// nothing.
type GridBacked interface {
	StableSnapshot
	// SetStableStore gives the machine its store, before Restore or
	// Apply.
	SetStableStore(s StableStore)
	// StableOmitted returns how many leading bytes of the stable prefix
	// the machine dropped from memory: a multiple of the store's unit, at
	// most its StableHeld. SnapshotOver leaves those bytes of the snapshot
	// unwritten (dst keeps whatever it held there), AppendSnapshotRange
	// must not be asked for them, and ReadSnapshotRange reads them from
	// the store. It changes only in PrefetchReset (which the replica also
	// calls right after writing a checkpoint restored from a state sync)
	// and the Restore methods.
	StableOmitted() int
	// ReadSnapshotRange is AppendSnapshotRange for any range of the stable
	// prefix, reading omitted bytes from the store (errors wrap
	// ErrStableRead).
	ReadSnapshotRange(dst []byte, from, to int) ([]byte, error)
	// PrefetchReset starts the prefetch of a prepare's requests: it forgets
	// what the previous prepare's prefetch read.
	PrefetchReset()
	// Prefetch reads from the store what applying this request after the
	// ones prefetched since PrefetchReset will need. Errors wrap
	// ErrStableRead; the replica then applies nothing of the prepare and
	// tries again later.
	Prefetch(operation wire.Operation, input []byte) error
	// PrefetchCost bounds what Prefetch of this request reads, and
	// PrefetchCapacity what one prepare's prefetch may read: the primary
	// packs requests into a prepare only while the sum of their costs fits
	// (a request alone always fits). A function of operation and input.
	PrefetchCost(operation wire.Operation, input []byte) int
	PrefetchCapacity() int
	// ScrubStable verifies the store's unit of the omitted bytes that
	// starts at from (StableStore.VerifyStable) and returns where the next
	// one starts (0 after the last; 0 and nil when nothing is omitted).
	ScrubStable(from int) (next int, err error)
	// RepairStable passes a peer's copy of stable bytes to the store
	// (StableStore.RepairStable) after a StableReadError.
	RepairStable(from int, b []byte) error
	// RestoreOmitting is Restore for a snapshot whose first omitted bytes
	// of the stable prefix (a multiple of the store's unit, at most its
	// StableHeld) are not in snapshot (whatever it holds there is not
	// read): the machine reads every one of them from its store, once, in
	// order (each read verifies them, so a restore that succeeds has
	// verified them all), and passes each read to visit when visit is not
	// nil (the bytes are valid during the call only). The replica
	// checksums its state sync manifest's chunks in that same pass.
	RestoreOmitting(snapshot []byte, omitted int, visit func(b []byte)) error
}

// Admission is implemented by state machines whose requests take a bounded
// resource that is freed later (the outbox's effect slots: an effect's slot
// is freed when its sink's answer commits). The primary then holds a
// request back in its queue, instead of preparing it, while the resource
// is short, so that a client sees a full resource as latency before it
// sees it as a refusal: a request is prepared when its cost fits the room
// the machine grants minus the cost of the prepares not yet committed, or
// when it has waited replica.Config.AdmissionWaitTicks (then it applies
// like any request, and the machine answers what does not fit with its
// own named result, e.g. the ledger's outbox_full).
//
// Admission changes only when a request is prepared, never its result:
// results stay a function of the log, and AdmissionRoom may depend on
// local configuration (only the primary asks it).
type Admission interface {
	// AdmissionCost is how much of the resource applying this request
	// may take at most: a function of operation and input alone. Zero:
	// the request is never held (acks that free the resource must be zero).
	AdmissionCost(operation wire.Operation, input []byte) uint64
	// AdmissionRoom is how much the primary may have in flight in prepares
	// not yet applied, given the state applied so far.
	// math.MaxUint64 means no limit.
	AdmissionRoom() uint64
}
