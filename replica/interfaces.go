package replica

import "github.com/chronon-db/chronon/wire"

// Bus delivers the replica's outgoing messages. The replica keeps its own
// reference to every message it sends; a Bus that queues a message takes
// another with m.Ref() and drops it with m.Unref() once sent (or dropped).
// Send must not call back into the replica.
type Bus interface {
	// SendToReplica sends m to replica r (never to the sender itself).
	SendToReplica(r uint8, m *wire.Message)
	// SendToClient sends m to the client with the given id, if connected.
	SendToClient(client wire.Uint128, m *wire.Message)
}

// Journal persists prepares and reads them back. Completions are delivered
// by the event loop, never from inside the call that started the operation.
type Journal interface {
	// WritePrepare takes a reference to m and, once the prepare is durable
	// in its WAL slot, the event loop calls Replica.OnPrepareWritten(m) and
	// the journal drops its reference.
	WritePrepare(m *wire.Message)
	// ReadPrepare reads the prepare of op into m (the journal takes a
	// reference until done); the event loop then calls
	// Replica.OnPrepareRead(m, found), found being false when the slot does
	// not hold a valid prepare of that op.
	ReadPrepare(op uint64, m *wire.Message)
	// Checkpoint durably records the state after op (whose prepare has the
	// given checksum). It is synchronous; an error means the disk failed,
	// and the replica stops (crash-only).
	Checkpoint(op uint64, checksum wire.Uint128, blobs CheckpointBlobs) error
	// PersistView durably records view, log_view, the head op of the log
	// the replica claims at that log_view, and the commit numbers (the
	// superblock) before the replica votes in or acts on a view. At a
	// restart, a journal that ends below the recorded log head lacks ops
	// the replica stood for, and the replica withholds its vote. anchor is
	// the checksum of that log's header at logOp (zero: unknown); the
	// highest one of the log_view is kept as its anchor (Recovered.LogAnchor).
	PersistView(view, logView uint32, logOp uint64, anchor wire.Uint128, commitMin, commitMax uint64) error
	// Truncate durably removes every journaled op above afterOp (ops a view
	// change discarded), so a restart cannot bring them back.
	Truncate(afterOp uint64) error
	// PersistRejoined durably records that a rejoining replica caught up
	// (see Recovered.Rejoining), before it votes again.
	PersistRejoined() error
}

// Clock is the primary's source of wall-clock time for prepare timestamps.
// In production it reads the system clock; in the simulator it is driven by
// ticks. The replica makes timestamps strictly increasing whatever the clock
// does.
type Clock interface {
	// Realtime returns nanoseconds since the Unix epoch.
	Realtime() uint64
}

// CheckpointBlobs are the parts of a checkpoint: the state machine's
// snapshot and the encoded client table.
type CheckpointBlobs struct {
	State []byte
	// StateSegments are the state's segment ends
	// (statemachine.SegmentedSnapshot), nil for one segment.
	StateSegments []int
	// StableSegment and StableSize name the state's stable prefix
	// (statemachine.StableSnapshot) when StableSize > 0.
	StableSegment, StableSize int
	// StableOmitted is how many leading bytes of the stable prefix State
	// does not hold (statemachine.GridBacked): the journal references the
	// durable checkpoint's blocks for them. StableOffset is where they
	// start in State (set when a checkpoint is read back omitting them).
	StableOmitted, StableOffset int
	// StableSkipped, when above StableOmitted, is how many leading bytes of
	// the stable prefix State does not hold in all: after the omitted ones,
	// full blocks the journal already wrote (StableCoverage).
	StableSkipped int
	Sessions      []byte
}

// StableCoverage is implemented by a Journal that writes the full blocks
// of a stable prefix ahead of the checkpoint that takes them (the
// journal's Prewrite). The replica then neither copies those bytes into
// its checkpoint buffer nor hands them to Checkpoint (StableSkipped); it
// reads them through the state machine when it serves or seals them.
type StableCoverage interface {
	// StableCovered returns how many leading bytes of the first size bytes
	// of the state's stable segment seg the next Checkpoint takes without
	// their bytes.
	StableCovered(seg, size int) int
}
