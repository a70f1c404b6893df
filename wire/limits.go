package wire

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
	// not yet committed) on the primary.
	PipelinePrepareMax int
	// JournalWritesMax and JournalReadsMax bound concurrent WAL I/O. Reads
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
// can hold at once, each term being one owner of references:
//
//   - the pipeline: PipelinePrepareMax prepares held until they commit;
//   - the request queue: one queued request per client (ClientsMax);
//   - journal I/O: JournalWritesMax prepares being written on a backup (on
//     the primary they are the pipeline's buffers, counted once more to keep
//     the bound simple) and JournalReadsMax buffers for repair reads;
//   - peers: for each other replica one receive buffer plus its send queue;
//   - clients: for each client one receive buffer plus its send queue, and
//     its last reply, kept in the client table so a retry gets it again;
//   - ScratchMax for the replica's own short-lived messages.
//
// A replica that ever needs more has a bug: the pool panics only on misuse,
// and Get returns ErrPoolExhausted, which callers treat as a dropped message.
func (l Limits) MessagesMax() int {
	peers := l.ReplicaCount - 1
	return l.PipelinePrepareMax +
		l.ClientsMax +
		l.JournalWritesMax + l.JournalReadsMax +
		peers*(1+l.PeerSendQueueMax) +
		l.ClientsMax*(1+l.ClientSendQueueMax+1) +
		l.ScratchMax
}
