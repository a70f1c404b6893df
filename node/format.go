package node

import (
	"fmt"
	"math"
	"os"

	"github.com/chronon-db/chronon/internal/persist"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// FormatDataFile creates path at its full size and formats it as an empty
// data file. It refuses an existing path (journal.ErrExists). A file that
// could not be formatted completely is removed: without its superblock it
// would not open anyway.
func FormatDataFile(path string, opts journal.FormatOptions) error {
	layout, err := journal.NewLayout(opts.Config)
	if err != nil {
		return err
	}
	f, err := journal.CreateFile(path, layout.Size)
	if err != nil {
		return err
	}
	opts.WriteWAL = true // a real file: WAL writes then overwrite written blocks
	if err := journal.Format(f, opts); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// WithClientsMax returns cfg with room for clientsMax client sessions (a
// replica's client table, and by default its client connection slots).
// When that is more sessions than cfg holds, the grid grows
// by the blocks two checkpoints need for the larger client table, so a
// data file formatted for its state machine still passes the grid check
// at start.
func WithClientsMax(cfg journal.Config, replicaCount int, clientsMax uint32) (journal.Config, error) {
	if clientsMax == 0 {
		return cfg, fmt.Errorf("%w: clients max 0", journal.ErrConfig)
	}
	out := cfg
	out.ClientsMax = clientsMax
	if clientsMax > cfg.ClientsMax {
		before := persist.Limits(cfg, replicaCount)
		after := persist.Limits(out, replicaCount)
		sizes := func(l wire.Limits) journal.CheckpointSizes {
			return journal.CheckpointSizes{Sessions: replica.SessionsSizeMax(l)}
		}
		grow := 2 * (cfg.CheckpointBlocksMax(sizes(after)) - cfg.CheckpointBlocksMax(sizes(before)))
		// The free set grows with the grid: one more block for it in each
		// checkpoint covers any growth a u32 block count allows.
		grow += 2
		if uint64(cfg.GridBlockCount)+grow > math.MaxUint32 {
			return cfg, fmt.Errorf("%w: %d client sessions need a grid of more than 2^32 blocks", journal.ErrConfig, clientsMax)
		}
		out.GridBlockCount += uint32(grow)
	}
	if err := out.Check(); err != nil {
		return cfg, err
	}
	return out, nil
}
