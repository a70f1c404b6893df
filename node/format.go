package node

import (
	"fmt"
	"math"
	"os"

	"github.com/chronon-db/chronon/internal/invariants"
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

// WithStateSizeMax returns cfg with a grid that holds two checkpoints of
// a state of up to stateSizeMax bytes with cfg's client table (the check
// node.Start makes, journal.Config.CheckGrid), never fewer blocks than cfg
// has. The error wraps journal.ErrConfig when no grid of cfg's block size
// is that large.
func WithStateSizeMax(cfg journal.Config, replicaCount int, stateSizeMax uint64) (journal.Config, error) {
	sizes := journal.CheckpointSizes{State: stateSizeMax, Sessions: replica.SessionsSizeMax(persist.Limits(cfg, replicaCount))}
	out := cfg
	// The free set grows with the grid: a few rounds settle it.
	for range 8 {
		need := 2 * out.CheckpointBlocksMax(sizes)
		if need <= uint64(out.GridBlockCount) {
			if err := out.Check(); err != nil {
				return cfg, fmt.Errorf("a state of %d bytes needs %d grid blocks of %d bytes: %w", stateSizeMax, out.GridBlockCount, out.GridBlockSize, err)
			}
			invariants.Assert(out.CheckGrid(sizes) == nil, "node: grid sized for a state fails the start check")
			return out, nil
		}
		if need > math.MaxUint32 {
			return cfg, fmt.Errorf("%w: a state of %d bytes needs more than 2^32 grid blocks", journal.ErrConfig, stateSizeMax)
		}
		out.GridBlockCount = uint32(need)
	}
	invariants.Failf("node: grid size for a state of %d bytes does not settle", stateSizeMax)
	return cfg, nil
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
