package sim

import "github.com/chronon-db/chronon/replica"

// FaultKind names one kind of injected fault.
type FaultKind uint8

// Fault kinds, in report order.
const (
	FaultLoss FaultKind = iota
	FaultDuplicate
	FaultPartitionSymmetric
	FaultPartitionAsymmetric
	FaultPartitionPrimary
	FaultCrash
	FaultCrashMidWrite
	FaultCrashPrimary
	FaultMisdirectWrite
	FaultMisdirectRead
	FaultCorruptWALPrepare
	FaultCorruptWALHeader
	FaultCorruptSuperblock
	FaultCorruptGrid
	FaultClientRestart
	FaultSinkTransientFailure
	FaultSinkLostReply
	FaultAckLost
	FaultCrashPrimaryMidDispatch
	FaultReformat
	FaultPowerLoss
	FaultPause
	FaultReceiverCrash
	FaultCorruptCheckpoint
	FaultCorruptMessage
	FaultDeliveredAfterCrash
	FaultWriteLostInFlight
	FaultWriteTornInFlight
	FaultCrashThenPrimaryCut
	FaultRogueFrame
	FaultCorruptStable
	FaultCorruptPrewritten
	FaultGridWriteLost
	FaultGridWriteMisdirected
	faultKindCount
)

var faultNames = [faultKindCount]string{
	"network_loss", "network_duplicate", "partition_symmetric", "partition_asymmetric", "partition_primary",
	"crash", "crash_mid_write", "crash_primary", "misdirect_write", "misdirect_read",
	"corrupt_wal_prepare", "corrupt_wal_header", "corrupt_superblock", "corrupt_grid", "client_restart",
	"sink_transient_failure", "sink_lost_reply", "ack_lost", "crash_primary_mid_dispatch",
	"reformat", "power_loss", "pause", "receiver_crash", "corrupt_checkpoint",
	"corrupt_message", "delivered_after_crash", "write_lost_in_flight", "write_torn_in_flight",
	"crash_then_primary_cut", "rogue_frame", "corrupt_stable",
	"corrupt_prewritten", "grid_write_lost", "grid_write_misdirected",
}

func (k FaultKind) String() string { return faultNames[k] }

// FaultKinds returns every fault kind in report order.
func FaultKinds() []FaultKind {
	ks := make([]FaultKind, faultKindCount)
	for i := range ks {
		ks[i] = FaultKind(i)
	}
	return ks
}

// PrimaryFaultKinds are the kinds only injected with Options.PrimaryFaults.
func PrimaryFaultKinds() []FaultKind {
	return []FaultKind{FaultPartitionPrimary, FaultCrashPrimary, FaultCrashPrimaryMidDispatch}
}

// Stats counts what a run did.
type Stats struct {
	Ticks        uint64
	OpsCommitted uint64 // highest op committed in the cluster
	Requests     uint64 // client requests sent (first attempts)
	Replies      uint64 // replies received by clients
	Retries      uint64 // request resends after a timeout
	Evictions    uint64 // eviction messages received by clients
	Redirects    uint64 // redirects clients followed (a request resent at once to a newer view's primary)
	// LargeReplies counts replies received above the reply slot
	// (wire.Limits.ReplySlotSize), RepliesDropped evictions(reply_dropped):
	// retries of a request whose large reply the replicas dropped.
	LargeReplies   uint64
	RepliesDropped uint64
	Restarts       uint64 // replica restarts
	// RestartsWithholding counts restarts whose recovery withheld the
	// replica's vote (persist.RecoveryInfo.Incomplete: it does not vote whole).
	RestartsWithholding uint64
	Messages            uint64 // messages delivered
	// PeerLossSignals counts lost connections reported to replicas
	// (Options.PeerLoss).
	PeerLossSignals uint64
	Faults          [faultKindCount]uint64
	LivenessTicks   uint64 // ticks the final phase took to converge
	Outbox          OutboxStats

	// CorruptDropped counts messages corrupted in flight that their
	// receiver's checksum validation dropped.
	CorruptDropped uint64
	// LiesTold counts messages a lying network forged (Options.Lie).
	LiesTold uint64
	// RogueDropped counts the rogue endpoint's frames (FaultRogueFrame)
	// that the receiving replica's validation dropped: all of them, or
	// the run fails (rogue_accepted).
	RogueDropped uint64
	// Sync counts the replicas' state syncs (replica.Counters, summed over
	// every replica instance of the run, crashed ones included).
	Sync SyncStats
	// Grid counts what the replicas' ledgers read back from the grid
	// (statemachine.GridBacked), summed over every replica instance.
	Grid GridStats
}

// GridStats are the counters of the transfers kept in the grid.
type GridStats struct {
	// Dropped is the most transfers one ledger had dropped from memory;
	// BlockHits and BlockMisses count the stable block cache's lookups;
	// PrefetchFailed counts prepares whose reads failed (retried), and
	// ChunksUnreadable checkpoint chunks not served for the same reason.
	Dropped                          uint64
	BlockHits, BlockMisses           uint64
	PrefetchFailed, ChunksUnreadable uint64
	// Requested counts request_stable sent, Repaired the repairs taken.
	Requested, Repaired uint64
	// Reads counts the prefetches of the ledger workload's reads
	// (lookup_transfers, get_account_transfers, get_account_balances)
	// that read dropped transfers from the grid, ReadsFailed those that
	// failed (a damaged block: the replica stalls and repairs it).
	Reads, ReadsFailed uint64
	// RepliesChecked counts the replies to those reads the workload
	// checked, TransfersFound the transfers they returned.
	RepliesChecked, TransfersFound uint64
	// SealedAhead counts manifest entries checkpoints took from chunks
	// checksummed between checkpoints.
	SealedAhead uint64
}

// addHost adds the grid counters of one replica instance.
func (g *GridStats) addHost(h *host) {
	if h.replica != nil {
		g.PrefetchFailed += h.replica.Counters.PrefetchFailed
		g.ChunksUnreadable += h.replica.Counters.SyncChunkUnreadable
		g.Requested += h.replica.Counters.StableRequested
		g.Repaired += h.replica.Counters.StableRepaired
		g.SealedAhead += h.replica.Counters.SealedAhead
	}
	if h.journal != nil {
		st := h.journal.StableCacheStats()
		g.BlockHits += st.Hits
		g.BlockMisses += st.Misses
	}
	if h.machine != nil {
		g.Reads += h.machine.reads
		g.ReadsFailed += h.machine.readsFailed
	}
	if h.ledger != nil {
		g.Dropped = max(g.Dropped, uint64(h.ledger.TransfersCount()-h.ledger.TransfersInMemory()))
	}
}

// SyncStats are the state sync counters of a run's replicas.
type SyncStats struct {
	Done, Failed                uint64 // syncs completed, and failed (a manifest or copy that did not verify)
	ChunksFetched, ChunksLocal  uint64 // chunks copied from the primary, and filled from the replica's own checkpoint
	BytesFetched, ChunksRefused uint64 // bytes of the fetched chunks; chunks refused against their manifest entry
}

func (s *SyncStats) add(o *SyncStats) {
	s.Done += o.Done
	s.Failed += o.Failed
	s.ChunksFetched += o.ChunksFetched
	s.ChunksLocal += o.ChunksLocal
	s.BytesFetched += o.BytesFetched
	s.ChunksRefused += o.ChunksRefused
}

// addReplica adds the sync counters of one replica instance.
func (s *SyncStats) addReplica(c *replica.Counters) {
	s.add(&SyncStats{Done: c.SyncsDone, Failed: c.SyncsFailed, ChunksFetched: c.SyncChunksFetched,
		ChunksLocal: c.SyncChunksLocal, BytesFetched: c.SyncBytesFetched, ChunksRefused: c.SyncChunksRefused})
}

// addReplica adds the counters of one replica instance (state sync,
// admission).
func (s *Stats) addReplica(c *replica.Counters) {
	s.Sync.addReplica(c)
	s.Outbox.AdmissionHeld += c.AdmissionHeld
	s.Outbox.AdmissionExpired += c.AdmissionExpired
}

// Add adds o into s.
func (s *Stats) Add(o *Stats) {
	s.Ticks += o.Ticks
	s.OpsCommitted += o.OpsCommitted
	s.Requests += o.Requests
	s.Replies += o.Replies
	s.Retries += o.Retries
	s.Evictions += o.Evictions
	s.Redirects += o.Redirects
	s.LargeReplies += o.LargeReplies
	s.RepliesDropped += o.RepliesDropped
	s.Restarts += o.Restarts
	s.RestartsWithholding += o.RestartsWithholding
	s.Messages += o.Messages
	s.Grid.Dropped = max(s.Grid.Dropped, o.Grid.Dropped)
	s.Grid.BlockHits += o.Grid.BlockHits
	s.Grid.BlockMisses += o.Grid.BlockMisses
	s.Grid.PrefetchFailed += o.Grid.PrefetchFailed
	s.Grid.ChunksUnreadable += o.Grid.ChunksUnreadable
	s.Grid.Requested += o.Grid.Requested
	s.Grid.Repaired += o.Grid.Repaired
	s.Grid.Reads += o.Grid.Reads
	s.Grid.ReadsFailed += o.Grid.ReadsFailed
	s.Grid.RepliesChecked += o.Grid.RepliesChecked
	s.Grid.TransfersFound += o.Grid.TransfersFound
	s.Grid.SealedAhead += o.Grid.SealedAhead
	s.PeerLossSignals += o.PeerLossSignals
	s.CorruptDropped += o.CorruptDropped
	s.LiesTold += o.LiesTold
	s.RogueDropped += o.RogueDropped
	s.LivenessTicks += o.LivenessTicks
	s.Outbox.add(&o.Outbox)
	s.Sync.add(&o.Sync)
	for i := range s.Faults {
		s.Faults[i] += o.Faults[i]
	}
}
