package replica

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// ErrConfig means a replica Config is unusable.
var ErrConfig = errors.New("replica: invalid config")

// Config holds the static parameters of one replica. All bounds are fixed
// for the replica's life; memory is sized from them at New.
type Config struct {
	// Cluster is the cluster id.
	Cluster wire.Uint128
	// ReplicaCount is the number of replicas (1, 3 or 5 in practice).
	ReplicaCount uint8
	// Replica is this replica's index, below ReplicaCount.
	Replica uint8
	// Limits are the message and queue bounds (wire.LimitsProduction or
	// wire.LimitsTest, or a variation).
	Limits wire.Limits
	// PrepareTimeoutTicks is how long the primary waits for prepare_oks
	// before it sends an uncommitted prepare again.
	PrepareTimeoutTicks uint64
	// CommitTimeoutTicks is the interval of the primary's commit heartbeat.
	CommitTimeoutTicks uint64
	// CheckpointInterval is the number of ops between checkpoints; every
	// replica checkpoints after committing each multiple of it. It must
	// leave room for the pipeline in the WAL: at most
	// WALSlotCount - 2*PipelinePrepareMax. Zero never checkpoints (the log
	// then cannot outgrow the WAL).
	CheckpointInterval uint64
	// WALSlotCount is the number of WAL slots of the journal (0: unbounded,
	// for in-memory journals).
	WALSlotCount uint64
	// NormalTimeoutTicks is how long a backup waits without hearing from the
	// primary before it starts a view change (randomised up to twice as
	// long, from Seed, so backups do not start together).
	NormalTimeoutTicks uint64
	// PrimaryLostTimeoutTicks is how long a backup whose connection to the
	// primary was lost (OnPeerLost) waits to hear from it again before it
	// starts a view change; 0 ignores lost connections (only
	// NormalTimeoutTicks applies).
	PrimaryLostTimeoutTicks uint64
	// ViewChangeTimeoutTicks is how long a view change may take before the
	// replica moves on to the next view (doubling with each attempt, up to
	// 16 times, plus seeded jitter).
	ViewChangeTimeoutTicks uint64
	// Seed seeds the replica's PRNG (timeout jitter). Replicas of a cluster
	// should get different seeds.
	Seed uint64
	// EagerPrepares makes the primary cut a prepare whenever requests are
	// queued and the pipeline has room. By default (false) it cuts one
	// while others are in flight only when the queued requests fill it:
	// small requests from many sessions then go out together when the
	// prepare ahead commits (group commit; docs/replica.md). The
	// simulator sets it for half its seeds and its scenario files, so
	// deep pipelines of small prepares stay exercised.
	EagerPrepares bool
	// CheckpointSizeMax bounds the checkpoint a state sync may copy from a
	// peer (its buffer is allocated from the announced size): the grid's
	// capacity for a real journal. Zero means 1 GiB.
	CheckpointSizeMax uint64
	// SyncChunkSize is the size of the chunks state sync cuts a checkpoint
	// into (one checksum per chunk in its manifest; a chunk is copied or
	// filled from the receiver's own checkpoint whole): zero means a
	// message's body (wire.SyncChunkSize), otherwise a multiple of 16 up
	// to that. Every replica of a cluster must use the same: the
	// checkpoint's id depends on it. The simulator uses small chunks so
	// that its small states span several.
	SyncChunkSize uint64
	// RedirectsPerTick bounds the redirects a replica that is not the
	// primary sends per tick in answer to client requests (zero: 16):
	// the rest are dropped and counted (Counters.DropRedirectLimit).
	RedirectsPerTick int
	// AdmissionWaitTicks bounds how long the primary holds a request back
	// for a state machine's admission (statemachine.Admission) before it
	// prepares it anyway (zero: 500, 5 s of 10 ms ticks).
	AdmissionWaitTicks uint64
	// ReleaseMemory, when set, gives the memory pages inside a buffer
	// back to the operating system: the replica calls it on the parts of
	// its checkpoint copy a GridBacked machine omitted, which it never
	// reads again. Nil keeps them.
	ReleaseMemory func(b []byte)
	// ScrubTicks is how often the scrubber verifies one unit (grid block)
	// of the stable bytes a GridBacked machine omitted, reading it from
	// the grid: once every ScrubTicks ticks (0: 10). A damaged unit is
	// repaired from a peer (request_stable) before the scrubber moves on.
	ScrubTicks uint64
	// QuorumOverride, when non-zero, replaces the majority quorum. It exists
	// only so the simulator can prove its checkers catch a broken protocol
	// (e.g. committing with a quorum of 1 in a 3-replica cluster); never set
	// it in production.
	QuorumOverride int
}

// DefaultTimeouts sets the timeouts to values suited to a 10 ms tick:
// prepares are resent after 50 ms, commit heartbeats every 100 ms, a silent
// primary is suspected after 0.5–1 s (300 ms after the connection to it was
// lost, if it stays silent), and a view change gets 0.5–1 s.
func (c *Config) DefaultTimeouts() {
	c.PrepareTimeoutTicks = 5
	c.CommitTimeoutTicks = 10
	c.NormalTimeoutTicks = 50
	c.PrimaryLostTimeoutTicks = 30
	c.ViewChangeTimeoutTicks = 50
	invariants.Assert(c.PrimaryLostTimeoutTicks < c.NormalTimeoutTicks, "replica: a lost primary suspected no sooner than a silent one")
	invariants.Assert(c.PrepareTimeoutTicks < c.CommitTimeoutTicks && c.CommitTimeoutTicks < c.NormalTimeoutTicks, "replica: heartbeats not within the normal timeout")
}

// check returns an error wrapping ErrConfig when c is unusable.
func (c *Config) check() error {
	wc := c.wireConfig()
	if err := wc.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.Replica >= c.ReplicaCount {
		return fmt.Errorf("%w: replica %d not below replica count %d", ErrConfig, c.Replica, c.ReplicaCount)
	}
	l := c.Limits
	if l.PipelinePrepareMax < 1 || l.PipelinePrepareMax > 64 {
		return fmt.Errorf("%w: pipeline prepare max %d not in [1, 64]", ErrConfig, l.PipelinePrepareMax)
	}
	if l.JournalWritesMax < 1 {
		return fmt.Errorf("%w: journal writes max %d must be positive", ErrConfig, l.JournalWritesMax)
	}
	if l.ClientsMax < 1 {
		return fmt.Errorf("%w: clients max %d must be positive", ErrConfig, l.ClientsMax)
	}
	if l.ReplySlotSize < wire.SectorSize || l.ReplySlotSize%wire.SectorSize != 0 || l.ReplySlotSize > l.MessageSizeMax {
		return fmt.Errorf("%w: reply slot size %d must be a multiple of %d up to message size max %d", ErrConfig, l.ReplySlotSize, wire.SectorSize, l.MessageSizeMax)
	}
	if l.RepliesLargeMax < 1 || l.ClientMessagesMax < 1 || l.ClientSendsMax < 1 {
		return fmt.Errorf("%w: replies large max %d, client messages max %d and client sends max %d must be positive", ErrConfig, l.RepliesLargeMax, l.ClientMessagesMax, l.ClientSendsMax)
	}
	if c.PrepareTimeoutTicks == 0 || c.CommitTimeoutTicks == 0 || c.NormalTimeoutTicks == 0 || c.ViewChangeTimeoutTicks == 0 {
		return fmt.Errorf("%w: timeouts must be positive", ErrConfig)
	}
	if c.WALSlotCount > 0 {
		room := c.WALSlotCount - min(c.WALSlotCount, uint64(2*l.PipelinePrepareMax))
		if c.CheckpointInterval == 0 || c.CheckpointInterval > room {
			return fmt.Errorf("%w: checkpoint interval %d must be in [1, %d] for %d WAL slots", ErrConfig, c.CheckpointInterval, room, c.WALSlotCount)
		}
	}
	if n := c.SyncChunkSize; n > 0 && (n%wire.SyncManifestEntrySize != 0 || n > wire.SyncChunkSize(l.MessageSizeMax)) {
		return fmt.Errorf("%w: sync chunk size %d must be a multiple of %d up to %d", ErrConfig, n, wire.SyncManifestEntrySize, wire.SyncChunkSize(l.MessageSizeMax))
	}
	if c.QuorumOverride < 0 || c.QuorumOverride > int(c.ReplicaCount) {
		return fmt.Errorf("%w: quorum override %d not in [0, %d]", ErrConfig, c.QuorumOverride, c.ReplicaCount)
	}
	// What the replica's bitmaps of replicas (acks, votes) rely on.
	invariants.Assert(c.ReplicaCount >= 1 && int(c.ReplicaCount) <= 64, "replica: replica count does not fit a bitmap")
	invariants.Assert(c.quorum() >= 1 && c.quorum() <= int(c.ReplicaCount), "replica: quorum out of range")
	return nil
}

func (c *Config) wireConfig() wire.Config {
	return wire.Config{Cluster: c.Cluster, ReplicaCount: c.ReplicaCount, MessageSizeMax: c.Limits.MessageSizeMax}
}

// redirectsPerTick is RedirectsPerTick with its default.
func (c *Config) redirectsPerTick() int {
	if c.RedirectsPerTick <= 0 {
		return 16
	}
	return c.RedirectsPerTick
}

// quorum is the replication quorum: a majority, f+1 of 2f+1.
func (c *Config) quorum() int {
	if c.QuorumOverride > 0 {
		return c.QuorumOverride
	}
	q := int(c.ReplicaCount)/2 + 1
	// Any two quorums share a replica.
	invariants.Assert(2*q > int(c.ReplicaCount), "replica: quorums that need not intersect")
	return q
}

func (c *Config) admissionWaitTicks() uint64 {
	if c.AdmissionWaitTicks == 0 {
		return 500
	}
	return c.AdmissionWaitTicks
}
