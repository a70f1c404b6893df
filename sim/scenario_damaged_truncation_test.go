package sim

import (
	"fmt"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// scenarioDamagedTruncation (review of damaged votes, safety) on the real
// journal: 3 replicas.
//
//  1. The cluster commits ops and goes idle; replica 2 then hears nothing
//     while primary 0 commits ops x..x+5 with replica 1's acks.
//  2. Power loss. While down, replica 1's prepare x rots. Replicas 0 and 1
//     restart (2 stays down): 1 is damaged (it loads ops below x only;
//     bound x+5), and view 3 starts with 0's log and 1's damaged vote.
//  3. Replica 1 installs start_view(3): it truncates its journal after
//     x−1 (the ops it could not load go too, durably) and crashes after
//     crashWrites more writes, before it records log_view 3.
//  4. Replica 1 restarts; 0 fails for good and 2 restarts (whole, ops
//     below x). Before the fix replica 1's journal was clean and reached
//     the log head recorded with log_view 0: it voted whole, and view 4
//     started without ops x..x+5, committed and acknowledged. Now its
//     bound is its durable log head: it stays damaged and no view starts
//     without replica 0.
func scenarioDamagedTruncation(seed uint64, crashWrites int) (hit bool, err error) {
	_, err = runScript(Options{Seed: seed, Replicas: 3, Clients: 1, Workload: WorkloadKV, NoFaults: true}, func(s *Sim) error {
		h0, h1, h2 := s.hosts[0], s.hosts[1], s.hosts[2]
		c := s.clients[0]
		x, top, err := damagedAfterPowerLoss(s)
		if err != nil {
			return err
		}
		if !h1.replica.Rejoining() || h1.replica.Op() >= x {
			return fmt.Errorf("setup: replica 1 not damaged below op %d (op %d)", x, h1.replica.Op())
		}
		started := func() bool {
			r := h0.replica
			return r.Status() == replica.StatusNormal && r.IsPrimary() && r.View() > 0
		}
		if !s.scriptSteps(20_000, keepDamaged, started) {
			return fmt.Errorf("setup: replica 0 started no view with replica 1's damaged vote")
		}
		view := h0.replica.View()
		h1.crashWrites = h1.storage.Writes() + crashWrites
		h1.storage.CrashAfterWrites(crashWrites)
		if !s.scriptSteps(2_000, nil, func() bool { return !h1.up || h1.replica.LogView() == view }) {
			return fmt.Errorf("setup: replica 1 neither installed view %d nor crashed", view)
		}
		if h1.up {
			return nil // crashed too late: not the window
		}
		h1.crashWrites = -1
		s.restart(h1)
		if s.err != nil {
			return s.err
		}
		if h1.journal.Superblock().VSR.LogView == view || h1.journal.Report().OpMax >= x {
			return nil // crashed too early or too late: not the window
		}
		hit = true
		s.trace.logf("script: replica 1 truncated after op %d and crashed before log_view %d; rejoining %v", x-1, view, h1.replica.Rejoining())
		h0.crash(journal.CrashKeepAll, "scripted")
		s.restart(h2)
		if s.err != nil {
			return s.err
		}
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

// TestScenarioDamagedTruncation runs scenarioDamagedTruncation with
// crashes at writes inside the truncation (seed 1: 2..16 more writes
// after view 3 started crash replica 1 between the truncation and the
// record of log_view 3). Before the fix every one of them failed: view 5
// started by replica 2 with its log ending at op 20, ops up to 26 were
// committed.
func TestScenarioDamagedTruncation(t *testing.T) {
	for _, k := range []int{2, 9, 16} {
		hit, err := scenarioDamagedTruncation(1, k)
		if err != nil {
			t.Fatalf("crash after %d writes: %v", k, err)
		}
		if !hit {
			t.Fatalf("setup: a crash after %d writes no longer falls between the truncation and log_view 3", k)
		}
	}
}

// keepDamaged drops replica 1's request_prepare messages: the scenarios
// need it to install the next view while still damaged, which it would
// not be if it repaired its own log from replica 0 while the first view
// change timed out (replica.Recover, damaged_repair.go).
func keepDamaged(p *packet, h *wire.Header) bool {
	return p.from == 1 && h.Command == wire.CommandRequestPrepare
}

// damagedAfterPowerLoss is the setup both truncation scenarios share (3
// replicas, one kv client): the cluster commits ops and goes idle; replica
// 2 then hears nothing while primary 0 commits ops x..x+5 with replica 1's
// acks; power loss; replica 1's prepare x rots; replicas 0 and 1 restart
// (2 stays down). It returns x and the highest committed op.
func damagedAfterPowerLoss(s *Sim) (x, top uint64, err error) {
	h0, h1, h2 := s.hosts[0], s.hosts[1], s.hosts[2]
	c := s.clients[0]
	if !s.scriptSteps(5_000, nil, func() bool { return h0.replica.CommitMin() >= 20 }) {
		return 0, 0, fmt.Errorf("setup: nothing committed")
	}
	c.budget = 0
	idle := func() bool {
		return c.idle() && h0.replica.Op() == h0.replica.CommitMin() &&
			h1.replica.CommitMin() == h0.replica.CommitMin() && h2.replica.CommitMin() == h0.replica.CommitMin()
	}
	if !s.scriptSteps(5_000, nil, idle) {
		return 0, 0, fmt.Errorf("setup: not idle")
	}
	x = h0.replica.Op() + 1
	deaf2 := func(p *packet, h *wire.Header) bool { return p.to == 2 || p.from == 2 }
	c.budget = 6
	done := func() bool {
		return c.idle() && h0.replica.CommitMin() >= x+5 && h1.replica.CommitMin() >= x+5
	}
	if !s.scriptSteps(5_000, deaf2, done) {
		return 0, 0, fmt.Errorf("setup: ops %d..%d not committed", x, x+5)
	}
	top = h0.replica.CommitMin()
	for _, h := range s.hosts {
		h.crash(journal.CrashKeepAll, "scripted power loss")
		h.downUntil = ^uint64(0)
	}
	l := &h1.layout
	h1.storage.FlipBit(l.PrepareOffset(l.SlotOf(x))+wire.HeaderSize+3, 1)
	s.restart(h0)
	s.restart(h1)
	return x, top, s.err
}
