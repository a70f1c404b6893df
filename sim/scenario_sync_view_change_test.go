package sim

import (
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// A scripted scenario drives the simulator's real replicas, journals and
// checkers through a sequence of faults that the random mix reaches too
// rarely to find (issue 11: a view change right after a state sync). The
// script replaces injectFaults (faultPhase is off); the liveness phase and
// the final checks are the simulator's own.

// scriptDrop removes in-flight replica messages for which drop returns
// true.
func (s *Sim) scriptDrop(drop func(p *packet, h *wire.Header) bool) {
	keep := s.net.packets[:0]
	for i := range s.net.packets {
		p := &s.net.packets[i]
		if p.from < clientBase && p.to < clientBase {
			var h wire.Header
			h.Decode(p.data)
			if drop(p, &h) {
				continue
			}
		}
		keep = append(keep, *p)
	}
	clear(s.net.packets[len(keep):])
	s.net.packets = keep
}

// scriptSteps steps at most ticks times (dropping what drop matches, if
// not nil) until done returns true, and reports whether it did.
func (s *Sim) scriptSteps(ticks int, drop func(p *packet, h *wire.Header) bool, done func() bool) bool {
	for t := 0; t < ticks && s.err == nil; t++ {
		if done() {
			return true
		}
		s.Step()
		if drop != nil {
			s.scriptDrop(drop)
		}
	}
	return s.err == nil && done()
}

// runScript runs script on a fresh simulator of o, then the liveness phase
// and the final checks, turning a panic (a broken assertion in a replica
// or its journal) into the run's error.
func runScript(o Options, script func(s *Sim) error) (s *Sim, err error) {
	s, err = New(o)
	if err != nil {
		return nil, err
	}
	s.faultPhase = false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s\ntrace:\n%s", p, debug.Stack(), s.traceTail())
		}
	}()
	if err := script(s); err != nil {
		return s, fmt.Errorf("%w\n%s\ntrace:\n%s", err, s.describe(), s.traceTail())
	}
	if s.err == nil {
		s.liveness()
	}
	if s.err == nil {
		s.finalChecks()
	}
	if s.err != nil {
		return s, fmt.Errorf("%w\ntrace:\n%s", s.err, s.traceTail())
	}
	return s, nil
}

func (s *Sim) traceTail() string {
	out := ""
	for _, l := range s.trace.tail() {
		out += "  " + l + "\n"
	}
	return out
}

// TestScenarioViewChangeAfterStateSync (issue 11, safety) on the real
// journal: 3 replicas, WAL of 128 slots, checkpoints every 120 ops.
//
//  1. Replica 2 crashes and stays down while 0 and 1 commit more ops than
//     the WAL holds (past a checkpoint).
//  2. Replica 1 stops hearing from primary 0 and starts view 1; 0 votes
//     for it but never gets its start_view, and crashes: its data file
//     says view 1, log_view 0, with every committed op.
//  3. Replica 2 restarts, installs view 1 (log_view 1, the view's log
//     ending at the last committed op) and, finding the ops it lacks gone
//     from replica 1's WAL, copies replica 1's checkpoint, which is below
//     that op. As soon as the sync is done replica 1 crashes, and 0
//     restarts.
//  4. Before the fix replica 2 voted with log_view 1 and its log ending at
//     the checkpoint, outranked 0's complete log, and as primary of view 2
//     installed it: its first prepare carried a commit number above its op
//     and the journal panicked ("WritePrepare of an invalid prepare ...
//     commit must be below op"). Now it withholds its vote: no view starts
//     while replica 1 is down, and none may start without the committed
//     ops.
//  5. Liveness phase: replica 1 restarts, the cluster converges, and the
//     simulator's final checks pass.
func TestScenarioViewChangeAfterStateSync(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		var committed, synced uint64
		s, err := runScript(Options{Seed: seed, Replicas: 3, Clients: 3, Workload: WorkloadKV, NoFaults: true}, func(s *Sim) error {
			h0, h1, h2 := s.hosts[0], s.hosts[1], s.hosts[2]
			if !s.scriptSteps(2_000, nil, func() bool { return h0.replica.CommitMin() >= 20 }) {
				return fmt.Errorf("setup: nothing committed")
			}
			h2.crash(journal.CrashKeepAll, "scripted")
			slots := uint64(simJournalConfig().SlotCount)
			behind := func() bool {
				return h0.replica.CommitMin() > h2.crashOp+slots+10 && h0.replica.CommitMin()%120 > 5
			}
			if !s.scriptSteps(20_000, nil, behind) {
				return fmt.Errorf("setup: replica 2 not left behind the WAL")
			}
			// No more requests: the commit number stays put from here.
			for _, c := range s.clients {
				c.budget = 0
			}
			idle := func() bool {
				for _, c := range s.clients {
					if !c.idle() {
						return false
					}
				}
				return h1.replica.CommitMin() == h0.replica.CommitMin() && h0.replica.Op() == h0.replica.CommitMin()
			}
			if !s.scriptSteps(5_000, nil, idle) {
				return fmt.Errorf("setup: clients not idle")
			}
			committed = h0.replica.CommitMin()
			// View 1: replica 1 hears nothing from 0; 0 never gets start_view.
			silence0 := func(p *packet, h *wire.Header) bool {
				return p.from == 0 && p.to == 1 && (h.Command == wire.CommandPrepare || h.Command == wire.CommandCommit)
			}
			if !s.scriptSteps(5_000, silence0, func() bool { return h1.replica.Status() == replica.StatusViewChange }) {
				return fmt.Errorf("setup: replica 1 did not start a view change")
			}
			noStartViewTo0 := func(p *packet, h *wire.Header) bool { return p.to == 0 && h.Command == wire.CommandStartView }
			view1 := func() bool {
				return h1.replica.Status() == replica.StatusNormal && h1.replica.View() == 1 && h1.replica.IsPrimary()
			}
			if !s.scriptSteps(5_000, noStartViewTo0, view1) || h0.replica.LogView() != 0 {
				return fmt.Errorf("setup: view 1 not started by replica 1 without replica 0")
			}
			h0.crash(journal.CrashKeepAll, "scripted")
			// Replica 2 restarts, installs view 1 and state-syncs.
			s.restart(h2)
			if s.err != nil {
				return s.err
			}
			if !s.scriptSteps(20_000, nil, func() bool { return h2.replica.Counters.SyncsDone > 0 }) {
				return fmt.Errorf("setup: replica 2 did not state-sync")
			}
			synced = h2.journal.Superblock().VSR.CheckpointOp
			s.trace.logf("script: replica 2 synced to op %d in view %d/%d; ops up to %d committed", synced, h2.replica.View(), h2.replica.LogView(), committed)
			if synced >= committed {
				return fmt.Errorf("setup: synced checkpoint %d not below the committed ops %d", synced, committed)
			}
			h1.crash(journal.CrashKeepAll, "scripted")
			h1.downUntil = ^uint64(0)
			s.restart(h0)
			if s.err != nil {
				return s.err
			}
			// Replicas 0 and 2 alone: no view may start without the
			// committed ops.
			for range 3_000 {
				s.Step()
				if s.err != nil {
					return s.err
				}
				for _, h := range []*host{h0, h2} {
					if r := h.replica; h.up && r.Status() == replica.StatusNormal && r.IsPrimary() && r.View() > 1 && r.Op() < committed {
						return fmt.Errorf("view %d started by replica %d with its log ending at op %d; ops up to %d were committed", r.View(), h.index, r.Op(), committed)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Logf("seed %d: replica 2 synced to op %d below the committed op %d; converged at op %d (replica 2 withheld %d votes)",
			seed, synced, committed, s.chain.highest(), s.hosts[2].replica.Counters.VotesWithheld)
	}
}
