package wire

import "github.com/chronon-db/chronon/internal/invariants"

// Limits are the static bounds of a replica that decide how many message
// buffers it needs. Everything is allocated at start-up from these numbers.
type Limits struct {
	// MessageSizeMax is message_size_max: the largest message, header included.
	MessageSizeMax uint32
	// ReplicaCount is the number of replicas in the cluster.
	ReplicaCount int
	// ClientsMax is the number of client sessions the client table holds;
	// each client has at most one request in flight.
	ClientsMax int
	// PipelinePrepareMax is the number of prepares in flight (prepared but
	// not yet committed) on the primary. A replica's window of uncommitted
	// ops (its prepare ring, and the future buffer sharing its slots) is
	// twice as long, so a backup can hold a full pipeline while it still
	// applies the previous one.
	PipelinePrepareMax int
	// JournalWritesMax and JournalReadsMax bound concurrent WAL I/O; the
	// replica never starts more (a prepare that finds every write slot
	// busy waits in the future buffer or is dropped and repaired). Reads
	// answer peers' repair requests: a lagging backup asks for up to 16
	// prepares per tick.
	JournalWritesMax int
	JournalReadsMax  int
	// PeerSendQueueMax is the number of messages queued per replica peer
	// connection before further sends are dropped (VSR retries them). It
	// holds a full pipeline of prepares plus heartbeats and repair answers
	// (twice the pipeline); a smaller queue drops prepares under load and
	// makes backups fall behind.
	PeerSendQueueMax int
	// ClientSendQueueMax is the number of messages queued per client
	// connection (a reply and an eviction at most).
	ClientSendQueueMax int
	// ConnectionsMax is the number of client connection slots of a bus,
	// sized apart from ClientsMax (sessions are replicated state, held in
	// the client table; connections are local and cost no message buffer).
	// Zero means ClientsMax.
	ConnectionsMax int
	// ClientMessagesMax is the budget of pool buffers client connections
	// receive into, shared by all of them: requests being received and
	// requests queued on the primary. When it is spent the bus stops
	// reading from client connections until buffers return
	// (backpressure, counted); it does not grow with ClientsMax.
	ClientMessagesMax int
	// ClientSendsMax bounds the message-pool buffers queued for sending on
	// all client connections together (large replies and evictions; small
	// replies are in the replica's reply slots); a send beyond it is
	// dropped and counted, and the client's retry gets the stored reply.
	ClientSendsMax int
	// ReplySlotSize is the buffer of each session's stored reply (header
	// included; a multiple of SectorSize): a reply up to this size is kept
	// in a buffer of its own, apart from the message pool.
	ReplySlotSize uint32
	// RepliesLargeMax is how many sessions may keep a reply larger than
	// ReplySlotSize (in a pool buffer of MessageSizeMax). Storing one more
	// drops the oldest large reply's body, keeping its header: a retry of
	// that request gets eviction(reply_dropped) instead of the reply. Every
	// replica drops the same replies (the choice depends on committed ops
	// only).
	RepliesLargeMax int
	// ScratchMax covers the replica's own short-lived messages (a commit
	// heartbeat, a start_view being built, a grid block being synced).
	ScratchMax int
}

// Production and test presets. Numbers follow TigerBeetle's published
// defaults where they exist (pipeline 8, 64 client sessions, 1 MiB messages).
var (
	LimitsProduction = Limits{
		MessageSizeMax:     MessageSizeMaxProduction,
		ReplicaCount:       ReplicaCountMax,
		ClientsMax:         1024,
		PipelinePrepareMax: 8,
		JournalWritesMax:   8,
		JournalReadsMax:    16,
		PeerSendQueueMax:   16,
		ClientSendQueueMax: 2,
		ClientMessagesMax:  128,
		ClientSendsMax:     128,
		ReplySlotSize:      4 << 10,
		RepliesLargeMax:    64,
		ScratchMax:         4,
	}
	LimitsTest = Limits{
		MessageSizeMax:     MessageSizeMaxTest,
		ReplicaCount:       ReplicaCountMax,
		ClientsMax:         16,
		PipelinePrepareMax: 4,
		JournalWritesMax:   4,
		JournalReadsMax:    16,
		PeerSendQueueMax:   8,
		ClientSendQueueMax: 2,
		ClientMessagesMax:  8,
		ClientSendsMax:     8,
		ReplySlotSize:      4 << 10,
		RepliesLargeMax:    4,
		ScratchMax:         4,
	}
)

// Connections returns the client connection slots: ConnectionsMax, or
// ClientsMax when it is zero.
func (l Limits) Connections() int {
	if l.ConnectionsMax > 0 {
		return l.ConnectionsMax
	}
	invariants.Assert(l.ClientsMax >= 0, "wire: negative clients max")
	return l.ClientsMax
}

// RepliesLarge is the number of large stored replies the client table may
// hold: RepliesLargeMax, at most one per session.
func (l Limits) RepliesLarge() int {
	return max(0, min(l.RepliesLargeMax, l.ClientsMax))
}

// RepliesSmallMax is how many reply slots (buffers of ReplySlotSize) a
// replica allocates: one stored reply per session, one per place in the
// send queues of client connections (a reply queued there may have left
// the table since: replaced, or its session evicted), and the one being
// stored.
func (l Limits) RepliesSmallMax() int {
	return l.ClientsMax + l.Connections()*l.ClientSendQueueMax + 1
}

// RequestsQueuedMax is the capacity of the primary's request queue: one
// request per session, at most the client receive budget (the queue holds
// buffers the bus received under it).
func (l Limits) RequestsQueuedMax() int {
	return max(1, min(l.ClientsMax, l.ClientMessagesMax))
}

// MessagesMax returns how many pooled messages a replica with these limits
// can hold at once, each term being one owner of references whose count
// the owner itself caps (docs/replica.md, "Bounds"):
//
//   - the window of uncommitted ops: 2*PipelinePrepareMax prepares, held
//     by the prepare ring or, ahead of a gap, by the future buffer (they
//     share one slot per op, so together they never hold more);
//   - client receives: ClientMessagesMax buffers, shared by the client
//     connections receiving into them and the primary's request queue
//     holding received requests (RequestsQueuedMax, at most that); the bus
//     takes them with Pool.GetBudgeted, which counts each until its last
//     reference drops, so every other owner still finds its share;
//   - journal I/O: JournalWritesMax prepares being written (usually also
//     in the ring, counted again because a write may outlive its ring
//     entry: committed or truncated before it completes) and
//     JournalReadsMax buffers for repair reads;
//   - peers: for each other replica one receive buffer plus its send queue;
//   - client sends: ClientSendsMax pool buffers queued on client
//     connections that are no longer (or never were) a stored reply;
//   - large stored replies: RepliesLargeMax replies larger than
//     ReplySlotSize, kept in the client table so a retry gets them again
//     (smaller ones live in the replica's reply slots, RepliesSmallMax,
//     outside this pool);
//   - ScratchMax for the replica's own short-lived messages (the reply
//     being built before it replaces the stored one, a message between
//     Get and its send queue).
//
// Nothing an input does can make a replica hold more: every owner drops
// (and counts) what exceeds its own cap. Running out anyway is a bug; Get
// returns ErrPoolExhausted, which senders treat as a dropped message and a
// commit, which cannot skip its reply, as a broken invariant.
func (l Limits) MessagesMax() int {
	invariants.Assert(l.ReplicaCount >= 1 && l.PipelinePrepareMax >= 1, "wire: limits without a replica or a pipeline")
	peers := l.ReplicaCount - 1
	invariants.Assert(l.ClientMessagesMax >= 1 && l.ClientSendsMax >= 1, "wire: limits without a client budget")
	return 2*l.PipelinePrepareMax +
		l.ClientMessagesMax +
		l.JournalWritesMax + l.JournalReadsMax +
		peers*(1+l.PeerSendQueueMax) +
		l.ClientSendsMax +
		l.RepliesLarge() +
		l.ScratchMax
}
