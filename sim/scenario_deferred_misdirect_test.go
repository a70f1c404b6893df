package sim

import (
	"fmt"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// TestScenarioDeferredMisdirectedAck (review of damaged votes, safety) on
// the real journal (HeaderDeferred, as the simulator and node run it): 3
// replicas.
//
//  1. The cluster commits ops, then goes idle. Replica 2 stops hearing
//     anything (it never gets the next op X).
//  2. One request: the WAL writes of replica 1 are misdirected while it
//     journals op X — the prepare lands in another slot, and so does the
//     header sector of its redundant header. Replica 1 acknowledges X
//     (prepare_ok follows the prepare's write in deferred mode); primary 0
//     commits X and replies to the client.
//  3. Replicas 0 and 1 crash; 0 stays down. Replica 1 restarts: its
//     journal names nothing of X except the misdirected prepare, in the
//     slot it landed on. Where that slot held an op above the checkpoint
//     (after 180 ops, seeds 1 and 2) the journal is damaged (that op is
//     unreadable): before the fix its damaged vote was bounded at X−1 and
//     replica 2, whole with ops up to X−1, started view 2 without X —
//     the acknowledged write was lost (before damaged votes replica 1
//     withheld, and these runs passed). Where the slot held nothing the
//     checkpoint needs (after 30 ops; seeds 3 and 4 after 180) the journal
//     looked whole and replica 1 started view 1 itself without X (a hole
//     of the deferred header mode that predates damaged votes). Now the
//     misdirected prepare counts (journal.Report.MisdirectedOpMax raises
//     the log head): replica 1's damaged vote covers X and no view
//     starts without replica 0.
//  4. Liveness phase: replica 0 restarts and the cluster converges with X.
func TestScenarioDeferredMisdirectedAck(t *testing.T) {
	for _, run := range []struct{ seed, ops uint64 }{{1, 30}, {2, 30}, {1, 180}, {2, 180}, {3, 180}, {4, 180}} {
		t.Run(fmt.Sprintf("seed%d_ops%d", run.seed, run.ops), func(t *testing.T) { scenarioDeferredMisdirectedAck(t, run.seed, run.ops) })
	}
}

func scenarioDeferredMisdirectedAck(t *testing.T, seed, ops uint64) {
	{
		var x uint64
		var xSum wire.Uint128
		_, err := runScript(Options{Seed: seed, Replicas: 3, Clients: 1, Workload: WorkloadKV, NoFaults: true}, func(s *Sim) error {
			h0, h1, h2 := s.hosts[0], s.hosts[1], s.hosts[2]
			c := s.clients[0]
			if !s.scriptSteps(5_000, nil, func() bool { return h0.replica.CommitMin() >= ops }) {
				return fmt.Errorf("setup: nothing committed")
			}
			c.budget = 0
			idle := func() bool {
				return c.idle() && h0.replica.Op() == h0.replica.CommitMin() &&
					h1.replica.CommitMin() == h0.replica.CommitMin() && h2.replica.CommitMin() == h0.replica.CommitMin()
			}
			if !s.scriptSteps(5_000, nil, idle) {
				return fmt.Errorf("setup: not idle")
			}
			x = h0.replica.Op() + 1
			deaf2 := func(p *packet, h *wire.Header) bool { return p.to == 2 || p.from == 2 }
			c.budget = 1
			h1.storage.misdirectWrite = 1
			committedX := func() bool {
				if h0.replica.CommitMin() >= x && xSum.IsZero() {
					if h0.replica.CommitMin() == x {
						xSum = h0.replica.CommitChecksum()
					}
				}
				return h0.replica.CommitMin() >= x && c.idle()
			}
			if !s.scriptSteps(5_000, deaf2, committedX) {
				return fmt.Errorf("setup: op %d not committed", x)
			}
			h1.storage.misdirectWrite = 0
			if xSum.IsZero() {
				return fmt.Errorf("setup: op %d's checksum not seen", x)
			}
			if h2.replica.Op() >= x {
				return fmt.Errorf("setup: replica 2 holds op %d", x)
			}
			s.trace.logf("script: op %d committed with replica 1's ack; its writes were misdirected", x)
			h0.crash(journal.CrashLoseAll, "scripted")
			h0.downUntil = ^uint64(0)
			h1.crash(journal.CrashLoseAll, "scripted")
			s.restart(h1)
			if s.err != nil {
				return s.err
			}
			why := "votes whole"
			if h1.replica.Rejoining() {
				why = "damaged or withholding"
			}
			s.trace.logf("script: replica 1 restarted: %s", why)
			c.budget = 3
			for range 6_000 {
				s.Step()
				if s.err != nil {
					return s.err
				}
				for _, h := range []*host{h1, h2} {
					r := h.replica
					if h.up && r.CommitMin() >= x && r.Status() == replica.StatusNormal && r.View() > 0 {
						if r.CommitMin() == x && r.CommitChecksum() != xSum {
							return fmt.Errorf("replica %d committed a different op at %d in view %d (acknowledged op lost)", h.index, x, r.View())
						}
					}
					if h.up && r.Status() == replica.StatusNormal && r.IsPrimary() && r.View() > 0 && r.Op() < x {
						return fmt.Errorf("view %d started by replica %d with its log ending at op %d; op %d was committed", r.View(), h.index, r.Op(), x)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d, op %d: %v", seed, x, err)
		}
		t.Logf("seed %d: op %d kept", seed, x)
	}
}
