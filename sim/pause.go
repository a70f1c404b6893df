package sim

import (
	"github.com/chronon-db/chronon/replica"
)

// pauseState is the one paused replica (Options.Pause): a process stopped
// with SIGSTOP. It gets no ticks, its journal completions wait and
// everything sent to it is held, in arrival order, as a kernel buffers a
// stopped process's TCP data. At resume (SIGCONT) the held messages reach
// it in one burst, before any of its journal completions and before its
// next tick — as its bus hands whole receive buffers to the replica on the
// first turn of its event loop.
type pauseState struct {
	active bool
	index  int
	// incarnation is the replica that was paused: a crash (a power loss)
	// ends the pause with it.
	incarnation *replica.Replica
	until       uint64
	held        []packet
}

// Pause bounds.
const (
	// pauseTicksMin and pauseTicksMax bound a pause (0.6..10 s at 10 ms
	// ticks): long enough for the others to time out (a normal timeout is
	// 50..100 ticks) and move on through a view change and, in the longer
	// pauses, more ops than the paused replica's message pool has buffers.
	pauseTicksMin = 60
	pauseTicksMax = 1000
)

// paused reports whether host i is stopped.
func (s *Sim) paused(i int) bool {
	p := &s.pause
	return p.active && p.index == i && s.hosts[i].up && s.hosts[i].replica == p.incarnation
}

// holdForPause keeps a packet for a stopped replica until it resumes; it
// reports whether it did.
func (s *Sim) holdForPause(p packet) bool {
	if p.to >= clientBase || !s.paused(p.to) {
		return false
	}
	s.pause.held = append(s.pause.held, p)
	return true
}

// injectPause runs once per tick of the fault phase: it resumes the paused
// replica when its time is up, or stops one, mostly the primary. A pause
// may outlast the WAL: the resumed replica then needs state sync.
func (s *Sim) injectPause() {
	p := &s.pause
	if p.active {
		h := s.hosts[p.index]
		if !h.up || h.replica != p.incarnation {
			s.endPause(false) // crashed while stopped: its connections died
			return
		}
		if s.now >= p.until {
			s.endPause(true)
		}
		return
	}
	if s.sc.pausePct == 0 || len(s.hosts) == 1 || s.rng.Float64() >= s.sc.pausePct {
		return
	}
	i, _ := s.primary()
	if s.rng.IntN(3) == 0 {
		i = s.rng.IntN(len(s.hosts))
	}
	h := s.hosts[i]
	if !h.up || h.crashWrites >= 0 || !s.mayFault(i) || s.faultyCount()+1 > s.f() {
		return
	}
	dur := pauseTicksMin + s.rng.Uint64N(pauseTicksMax-pauseTicksMin+1)
	*p = pauseState{active: true, index: i, incarnation: h.replica, until: s.now + dur, held: p.held[:0]}
	s.stats.Faults[FaultPause]++
	s.trace.logf("replica %d paused for %d ticks (view %d, op %d, commit %d)", i, dur, h.replica.View(), h.replica.Op(), h.replica.CommitMin())
}

// endPause resumes the paused replica: with deliver, everything held
// reaches it now in one burst; otherwise (it crashed) the held messages are
// dropped.
func (s *Sim) endPause(deliver bool) {
	p := &s.pause
	p.active = false
	held := p.held
	p.held = p.held[:0]
	if !deliver {
		s.trace.logf("replica %d: pause ended by a crash, %d held messages dropped", p.index, len(held))
		clear(held)
		return
	}
	s.trace.logf("replica %d resumed: %d held messages arrive at once", p.index, len(held))
	for _, m := range held {
		s.deliver(m)
		if s.err != nil {
			break
		}
	}
	clear(held)
}
