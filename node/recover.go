package node

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// recover rebuilds the replica from its data file: the latest checkpoint,
// then the journaled ops known to be committed. A single replica's every
// journaled op is committed (quorum of one); a replica of a larger cluster
// replays up to the commit number its superblock recorded and fetches the
// rest from the primary.
func (n *Node) recover() error {
	sb := n.journal.Superblock()
	report := n.journal.Report()
	info := RecoveryInfo{CheckpointOp: sb.VSR.CheckpointOp, WALOpMax: report.OpMax}
	info.Restarted = sb.VSR.CheckpointOp > 0 || report.OpMax > 0 || sb.VSR.CommitMax > 0
	if sb.VSR.CheckpointOp > 0 {
		data, err := n.journal.ReadCheckpoint(journal.CheckpointData{})
		if err != nil {
			return fmt.Errorf("node: read checkpoint at op %d: %w", sb.VSR.CheckpointOp, err)
		}
		if err := n.replica.Restore(sb.VSR.CheckpointOp, sb.VSR.CheckpointChecksum, data.State, data.Sessions); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	limit := sb.VSR.CommitMax
	if sb.ReplicaCount == 1 {
		limit = report.OpMax
	}
	if report.ChainBreak != 0 && report.ChainBreak <= limit {
		limit = report.ChainBreak - 1
	}
	for op := n.replica.CommitMin() + 1; op <= limit; op++ {
		ok, err := n.replayOne(op, true)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		info.Replayed++
	}
	// Journaled ops beyond the known commit number: prepared here, maybe
	// committed by the cluster. Load what extends the chain; the primary's
	// commit number decides.
	if n.replica.CommitMin() == limit {
		chainEnd := report.OpMax
		if report.ChainBreak != 0 {
			chainEnd = min(chainEnd, report.ChainBreak-1)
		}
		for op := limit + 1; op <= chainEnd; op++ {
			ok, err := n.replayOne(op, false)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			info.Prepared++
		}
	}
	if info.Restarted {
		info.Err = n.replica.StartAfterRestart()
		if errors.Is(info.Err, replica.ErrRestartedPrimary) {
			n.log.Warn("node: this replica is the restarted primary; it waits for a view change (not implemented yet) and serves no requests")
		}
	}
	n.recovered = info
	return nil
}

// replayOne replays op from the WAL, as committed or as prepared only. It
// returns false when the WAL does not hold op intact or the replica cannot
// take it (the replica then repairs it from the primary).
func (n *Node) replayOne(op uint64, committed bool) (bool, error) {
	h, ok := n.journal.Header(op)
	if !ok {
		return false, nil
	}
	data, err := n.journal.ReadPrepare(op, h.Checksum)
	if err != nil {
		return false, nil
	}
	m, err := n.pool.Get()
	if err != nil {
		return false, fmt.Errorf("node: replay: %w", err)
	}
	defer m.Unref()
	copy(m.Buffer, data)
	var got wire.Header
	wcfg := wire.Config{Cluster: h.Cluster, ReplicaCount: n.journal.Superblock().ReplicaCount, MessageSizeMax: uint32(n.pool.MessageSizeMax())}
	if err := wire.DecodeHeader(m.Buffer, &got, &wcfg); err != nil {
		return false, nil
	}
	replay := n.replica.ReplayPrepared
	if committed {
		replay = n.replica.ReplayCommitted
	}
	if err := replay(m, &got); err != nil {
		n.log.Info("node: replay stopped", "op", op, "err", err)
		return false, nil
	}
	return true, nil
}
