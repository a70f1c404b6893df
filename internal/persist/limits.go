package persist

import (
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// Limits are the replica limits that match a data file's configuration.
func Limits(c journal.Config, replicaCount int) wire.Limits {
	l := wire.LimitsProduction
	if c.MessageSizeMax < wire.MessageSizeMaxProduction {
		l = wire.LimitsTest
	}
	l.MessageSizeMax = c.MessageSizeMax
	l.ClientsMax = int(c.ClientsMax)
	l.ReplicaCount = replicaCount
	return l
}

// CheckpointInterval is the checkpoint interval for a data file: as many
// ops as the WAL holds beyond two pipelines, so a checkpoint is durable
// before the WAL wraps over ops it does not cover.
func CheckpointInterval(c journal.Config, l wire.Limits) uint64 {
	return uint64(c.SlotCount) - uint64(2*l.PipelinePrepareMax)
}
