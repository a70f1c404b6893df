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
		ClientsMax:         64,
		PipelinePrepareMax: 8,
		JournalWritesMax:   8,
		JournalReadsMax:    16,
		PeerSendQueueMax:   16,
		ClientSendQueueMax: 2,
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
		ScratchMax:         4,
	}
)

// MessagesMax returns how many pooled messages a replica with these limits
// can hold at once, each term being one owner of references whose count
// the owner itself caps (docs/replica.md, "Bounds"):
//
//   - the window of uncommitted ops: 2*PipelinePrepareMax prepares, held
//     by the prepare ring or, ahead of a gap, by the future buffer (they
//     share one slot per op, so together they never hold more);
//   - the request queue: one queued request per client (ClientsMax);
//   - journal I/O: JournalWritesMax prepares being written (usually also
//     in the ring, counted again because a write may outlive its ring
//     entry: committed or truncated before it completes) and
//     JournalReadsMax buffers for repair reads;
//   - peers: for each other replica one receive buffer plus its send queue;
//   - clients: for each client one receive buffer plus its send queue, and
//     its last reply, kept in the client table so a retry gets it again;
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
	return 2*l.PipelinePrepareMax +
		l.ClientsMax +
		l.JournalWritesMax + l.JournalReadsMax +
		peers*(1+l.PeerSendQueueMax) +
		l.ClientsMax*(1+l.ClientSendQueueMax+1) +
		l.ScratchMax
}
