package replica

// Counters are the replica's metrics: plain numbers an exporter can read
// between event-loop turns. Drops are counted by reason so that a flood or a
// misbehaving peer is visible rather than silent.
type Counters struct {
	RequestsReceived uint64 // requests accepted into the queue
	RequestsBatched  uint64 // requests packed into prepares
	PreparesSent     uint64 // prepares created by this primary
	PreparesResent   uint64 // prepare retransmissions after a timeout
	OpsCommitted     uint64 // ops applied locally
	// PrefetchFailed counts failed prefetches (a GridBacked machine
	// reading its dropped state back): the commit waits and tries again
	// every tick, each try counted.
	PrefetchFailed uint64
	// SyncChunkUnreadable counts checkpoint chunks not served because
	// their omitted stable bytes could not be read back.
	SyncChunkUnreadable uint64
	// Grid repair of a stable prefix (request_stable, stable): requests
	// sent, answers served, repairs the store took and refused, and
	// failed reads whose unit is larger than a message.
	StableRequested, StableServed       uint64
	StableRepaired, StableRepairRefused uint64
	StableRepairImpossible              uint64
	// ScrubCycles counts the scrubber\'s completed passes over the omitted
	// stable bytes, ScrubDamaged the units it found damaged.
	ScrubCycles, ScrubDamaged uint64
	// SealedAhead counts sync manifest entries checkpoints took from the
	// chunks of the stable prefix checksummed between checkpoints.
	SealedAhead        uint64
	RequestsApplied    uint64 // client requests applied to the state machine
	RepliesResent      uint64 // stored replies sent again for a retried request
	Evictions          uint64 // sessions evicted to make room
	RepliesDropped     uint64 // large stored replies reduced to their header for a newer one (Limits.RepliesLargeMax)
	CommitHeartbeats   uint64 // commit messages sent
	LocalSubmitted     uint64 // local requests queued by this primary (SubmitLocal)
	LocalApplied       uint64 // local requests applied
	AdmissionHeld      uint64 // requests the state machine's admission held back in the queue (statemachine.Admission), each counted once
	AdmissionExpired   uint64 // held requests prepared anyway after Config.AdmissionWaitTicks
	ViewChanges        uint64 // view changes started (including retries)
	PrimaryLost        uint64 // connections to the primary lost (OnPeerLost), each a suspicion
	ViewsStarted       uint64 // views this replica installed as primary
	OpsTruncated       uint64 // truncations of divergent uncommitted ops
	OpsNacked          uint64 // uncommitted ops a view change dropped: no quorum member held them
	RepairRequested    uint64 // request_prepare messages sent by this backup
	RepairAnswered     uint64 // prepares sent to answer a peer's request_prepare
	RepairNotFound     uint64 // request_prepare for ops the journal no longer holds
	SyncOffers         uint64 // checkpoints offered to replicas beyond the WAL
	SyncsStarted       uint64 // state syncs begun by this replica
	SyncsDone          uint64 // state syncs completed
	SyncsFailed        uint64 // state syncs whose copy did not verify
	SyncsRequested     uint64 // checkpoints asked of the primary to replace this replica's damaged one
	SyncChunksLocal    uint64 // chunks of synced checkpoints filled from this replica's own (their manifest entries matched)
	SyncBytesLocal     uint64 // bytes of those chunks
	SyncChunksFetched  uint64 // chunks of synced checkpoints copied from the primary
	SyncBytesFetched   uint64 // bytes of those chunks
	SyncChunksRefused  uint64 // chunks that did not match their manifest entry (dropped and asked again)
	VotesWithheld      uint64 // do_view_change not sent: rejoining, or the log does not reach its log_view's head
	InstallsRefused    uint64 // view changes whose best-ranked log ended below a voter's commit number (not installed)
	VotesDamaged       uint64 // damaged do_view_change votes sent (see voteDamagedUntilCaughtUp)
	DamagedOpsRepaired uint64 // ops of its own log a damaged replica repaired in a view change
	DamageRepaired     uint64 // damaged replicas whole again before catching up (damaged_repair.go)
	Rejoined           uint64 // ends of rejoining (caught up, votes again)
	DropRejoining      uint64 // messages ignored while probing peers after a lost data file
	DropNotPrimary     uint64 // requests sent to a backup (or to a replica in a view change)
	Redirects          uint64 // redirects sent: requests of an older view that reached a normal backup
	DropRedirectLimit  uint64 // requests not redirected: Config.RedirectsPerTick were sent this tick
	DropWrongView      uint64 // messages from another view
	DropStaleRequest   uint64 // requests older than the session's last
	DropDuplicate      uint64 // requests already queued or being prepared
	DropReplyDropped   uint64 // retries whose stored reply was dropped, answered with eviction(reply_dropped)
	DropQueueFull      uint64 // requests that found the request queue full (registers: ClientsMax registers already in flight)
	DropNoSession      uint64 // requests without a valid session (eviction sent)
	DropBadRequest     uint64 // requests a state machine cannot serve (reply too large), or of a local-only operation
	DropRequestAhead   uint64 // requests whose number skips ahead of the session's last + 1
	DropBadParent      uint64 // requests whose parent is not the checksum of the session's last reply
	DropPoolExhausted  uint64 // messages not built for lack of a buffer
	DropGap            uint64 // prepares beyond op+1 (await retransmission)
	DropBrokenChain    uint64 // prepares whose parent is not our head
	DropRingFull       uint64 // prepares refused while uncommitted ops fill the ring
	DropJournalBusy    uint64 // prepares refused while JournalWritesMax writes are in flight (and the future buffer could not keep them)
	DropUnexpected     uint64 // messages this replica's role does not take
	DropBadBatchEntry  uint64 // entries of a committed batch that do not decode
	DropStalePrepareOK uint64 // prepare_oks for ops no longer in flight
}
