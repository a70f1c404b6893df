package sim

import (
	"fmt"
	"github.com/chronon-db/chronon/journal"
	"runtime/debug"
	"strings"

	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// InvariantPanic names a panic inside the replica or the simulator (a
// broken assertion is a failure like any other).
const InvariantPanic = "panic"

// Result is the outcome of one run.
type Result struct {
	Seed     uint64
	Scenario string
	// Err is nil when every invariant held; otherwise a *Violation.
	Err error
	// Stats counts what the run did and which faults it injected.
	Stats Stats
	// Fingerprint hashes every event of the run: equal for equal Options.
	Fingerprint wire.Uint128
	// Digests are the replicas' final StateDigests (zero for a replica
	// that is down).
	Digests []wire.Uint128
	// Trace is the tail of notable events, oldest first.
	Trace []string
}

// Failed reports whether an invariant was violated.
func (r *Result) Failed() bool { return r.Err != nil }

// Invariant returns the violated invariant's name ("" when none).
func (r *Result) Invariant() string {
	if v, ok := r.Err.(*Violation); ok {
		return v.Invariant
	}
	if r.Err != nil {
		return "error"
	}
	return ""
}

// Report formats a failure for humans: seed, invariant, scenario and the
// trace tail.
func (r *Result) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d FAILED: %v\n", r.Seed, r.Err)
	fmt.Fprintf(&b, "scenario: %s\n", r.Scenario)
	fmt.Fprintf(&b, "reproduce: go run ./cmd/chronon vopr --seed %d\n", r.Seed)
	fmt.Fprintf(&b, "trace tail:\n")
	for _, l := range r.Trace {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

// Run simulates one seed: a fault phase of o.Ticks ticks, then a liveness
// phase without faults in which the cluster must commit the clients' last
// requests and converge, then the final checks.
func Run(o Options) (res Result) {
	res.Seed = o.Seed
	s, err := New(o)
	if err != nil {
		res.Err = violation(InvariantRestart, "setup: %v", err)
		return res
	}
	res.Scenario = s.sc.String()
	defer func() {
		if p := recover(); p != nil {
			stack := string(debug.Stack())
			if i := strings.Index(stack, "panic("); i >= 0 {
				stack = stack[i:]
			}
			if len(stack) > 3000 {
				stack = stack[:3000]
			}
			s.fail(violation(InvariantPanic, "%v\n%s", p, stack))
		}
		res.Err = s.err
		for _, h := range s.hosts {
			if h.replica != nil {
				s.stats.addReplica(&h.replica.Counters)
			}
			s.stats.Grid.addHost(h)
		}
		s.stats.Grid.RepliesChecked, s.stats.Grid.TransfersFound = s.ledger.reads, s.ledger.found
		res.Stats = s.stats
		res.Fingerprint = s.trace.hash
		res.Trace = s.trace.tail()
		res.Digests = make([]wire.Uint128, len(s.hosts))
		for i, h := range s.hosts {
			if h.up {
				res.Digests[i] = h.replica.StateDigest()
			}
		}
	}()
	for t := 0; t < s.sc.Ticks && s.err == nil; t++ {
		s.Step()
	}
	if s.err == nil {
		s.liveness()
	}
	if s.err == nil {
		s.finalChecks()
	}
	return res
}

// heal ends every fault: partitions, loss, duplication, misdirection,
// armed crashes; down replicas restart.
func (s *Sim) heal() {
	s.faultPhase = false
	if s.pause.active {
		s.endPause(s.paused(s.pause.index))
	}
	s.net.heal()
	s.partition.active = false
	s.net.faulty = false
	s.outbox.heal()
	for _, h := range s.hosts {
		h.storage.misdirectRead, h.storage.misdirectWrite, h.storage.gridWriteFault = 0, 0, 0
		switch {
		case h.crashWrites >= 0 && h.up && h.storage.Writes() >= h.crashWrites:
			// The armed crash's writes are used up: the storage refuses
			// what follows, and a refusal may already be on its way to
			// the replica. The crash happens now, not in the liveness
			// phase.
			s.stats.Faults[FaultCrashMidWrite]++
			h.crash(journal.CrashRandom, "armed crash at the end of the fault phase")
		case h.crashWrites >= 0:
			h.crashWrites = -1
			h.storage.CrashAfterWrites(-1)
		}
		if !h.up && s.err == nil {
			s.restart(h)
		}
	}
	for _, c := range s.clients {
		c.budget = s.sc.requestsPerClient
	}
	s.trace.logf("faults healed; liveness phase")
}

// liveness runs the fault-free phase until the cluster converged.
func (s *Sim) liveness() {
	s.heal()
	for _, h := range s.hosts {
		h.scrubAtHeal, h.scrubOmitted = 0, 0
		if h.up {
			h.scrubAtHeal, h.scrubOmitted = h.replica.ScrubCycles()
		}
	}
	start := s.now
	commitAtHeal := s.chain.highest()
	for t := 0; t < s.sc.LivenessTicks && s.err == nil; t++ {
		s.Step()
		if s.converged() && s.chain.highest() > commitAtHeal && s.outboxDrained() {
			s.stats.LivenessTicks = s.now - start
			s.stats.OpsCommitted = s.chain.highest()
			return
		}
	}
	s.stats.OpsCommitted = s.chain.highest()
	if s.err == nil {
		why := ""
		slots := uint64(simJournalConfig().SlotCount)
		for _, h := range s.hosts {
			if h.up && h.replica.CommitMin()+slots < s.chain.highest() {
				why = fmt.Sprintf(" (replica %d is behind by more than the WAL: state sync did not bring it back)", h.index)
			}
		}
		s.fail(violation(InvariantLiveness, "no convergence %d ticks after faults healed (commit at heal %d)%s: %s", s.sc.LivenessTicks, commitAtHeal, why, s.describe()))
	}
}

// converged reports whether every replica is up and normal in one view,
// with the same commit and state, and every client is idle.
func (s *Sim) converged() bool {
	first := s.hosts[0]
	if !first.up {
		return false
	}
	r0 := first.replica
	for _, h := range s.hosts {
		if !h.up {
			return false
		}
		r := h.replica
		if r.Status() != replica.StatusNormal || r.Rejoining() || r.View() != r0.View() || r.CommitMin() != r0.CommitMin() ||
			r.Op() != r.CommitMin() || r.StateDigest() != r0.StateDigest() {
			return false
		}
		// The scrubber has read back (and repaired) every block of the
		// state it keeps only in the grid since the faults healed and
		// since that state last grew (a checkpoint after the heal may
		// take a block written ahead, and damaged, before it): a whole
		// pass begun after both ends the second pass after them.
		cycles, omitted := r.ScrubCycles()
		if omitted != h.scrubOmitted {
			h.scrubAtHeal, h.scrubOmitted = cycles, omitted
		}
		if omitted > 0 && cycles < h.scrubAtHeal+2 {
			return false
		}
	}
	for _, c := range s.clients {
		if !c.idle() {
			return false
		}
	}
	return true
}

func (s *Sim) describe() string {
	var b strings.Builder
	for _, h := range s.hosts {
		if !h.up {
			fmt.Fprintf(&b, "[replica %d down] ", h.index)
			continue
		}
		r := h.replica
		c := &r.Counters
		fmt.Fprintf(&b, "[replica %d view %d status %d op %d commit %d/%d digest %x rejoining %v scrub %d/%d damaged %d repaired %d refused %d req %d served %d dropunexp %d] ", h.index, r.View(), r.Status(), r.Op(), r.CommitMin(), r.CommitMax(), r.StateDigest().Lo, r.Rejoining(),
			c.ScrubCycles, h.scrubAtHeal, c.ScrubDamaged, c.StableRepaired, c.StableRepairRefused, c.StableRequested, c.StableServed, c.DropUnexpected)
	}
	idle := 0
	for _, c := range s.clients {
		if c.idle() {
			idle++
		}
	}
	fmt.Fprintf(&b, "clients idle %d/%d", idle, len(s.clients))
	s.describeOutbox(&b)
	return b.String()
}
