package sim

import (
	"fmt"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// scenarioStartViewTruncation is scenarioDamagedTruncation with view 3
// started by the votes of replicas 0 and 2 — replica 2 never gets its
// start_view (log_view 0, ops below x) — so replica 1's vote is not
// needed. Replica 1 (prepare x rotted: damaged, or withholding before
// damaged votes) installs start_view(3), truncates its journal after x−1
// (the ops it could not load go too, durably) and crashes before it
// records log_view 3. Its journal is then clean and reaches the log head
// of log_view 0: it voted whole, and with 0 down view 4 or 5 of replicas
// 1 and 2 started without ops x..x+5, committed with 1's acks — before
// damaged votes too, when the crash fell after the truncation's last
// write. Its damaged bound is now durable.
func scenarioStartViewTruncation(seed uint64, crashWrites int) (hit bool, err error) {
	_, err = runScript(Options{Seed: seed, Replicas: 3, Clients: 1, Workload: WorkloadKV, NoFaults: true}, func(s *Sim) error {
		h0, h1, h2 := s.hosts[0], s.hosts[1], s.hosts[2]
		c := s.clients[0]
		x, top, err := damagedAfterPowerLoss(s)
		if err != nil {
			return err
		}
		if !h1.replica.Rejoining() {
			return fmt.Errorf("setup: replica 1 not damaged")
		}
		if !s.scriptSteps(20_000, keepDamaged, func() bool { return h0.replica.View() >= 3 }) {
			return fmt.Errorf("setup: replica 0 not in view 3")
		}
		s.restart(h2)
		if s.err != nil {
			return s.err
		}
		// Replica 2 votes, but hears nothing of view 3's log.
		from0to2 := func(p *packet, h *wire.Header) bool { return p.from == 0 && p.to == 2 || keepDamaged(p, h) }
		armed := false
		started := func() bool {
			r := h0.replica
			if !armed && r.Status() == replica.StatusNormal && r.IsPrimary() && r.View() >= 3 {
				armed = true
				h1.crashWrites = h1.storage.Writes() + crashWrites
				h1.storage.CrashAfterWrites(crashWrites)
			}
			return armed && (!h1.up || h1.replica.LogView() == r.View())
		}
		if !s.scriptSteps(20_000, from0to2, started) {
			return fmt.Errorf("setup: no view started by replica 0, or replica 1 neither installed it nor crashed")
		}
		view := h0.replica.View()
		if h1.up || h2.replica.LogView() != 0 {
			return nil // not the window
		}
		h1.crashWrites = -1
		s.restart(h1)
		if s.err != nil {
			return s.err
		}
		if h1.journal.Superblock().VSR.LogView == view || h1.journal.Report().OpMax >= x {
			return nil // not the window
		}
		hit = true
		s.trace.logf("script: replica 1 truncated after op %d and crashed before log_view %d; rejoining %v", x-1, view, h1.replica.Rejoining())
		h0.crash(journal.CrashKeepAll, "scripted")
		c.budget = 3
		for range 6_000 {
			s.Step()
			if s.err != nil {
				return s.err
			}
			for _, h := range []*host{h1, h2} {
				if r := h.replica; h.up && r.Status() == replica.StatusNormal && r.IsPrimary() && r.View() > view && r.Op() < top {
					return fmt.Errorf("view %d started by replica %d with its log ending at op %d; ops up to %d were committed", r.View(), h.index, r.Op(), top)
				}
			}
		}
		return nil
	})
	return hit, err
}

// TestScenarioStartViewTruncation runs scenarioStartViewTruncation with
// crashes at writes inside the truncation and just after it (seed 1).
// Before the durable damaged bound every one failed (view 4 or 5 started
// with its log ending at op 20, ops up to 26 committed); before damaged
// votes the later ones (11..15 more writes) failed the same way.
func TestScenarioStartViewTruncation(t *testing.T) {
	for _, k := range []int{2, 9, 12, 15} {
		hit, err := scenarioStartViewTruncation(1, k)
		if err != nil {
			t.Fatalf("crash after %d writes: %v", k, err)
		}
		if !hit {
			t.Fatalf("setup: a crash after %d writes no longer falls between the truncation and log_view 3", k)
		}
	}
}
