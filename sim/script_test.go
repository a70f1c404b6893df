package sim

import (
	"fmt"
	"runtime/debug"

	"github.com/chronon-db/chronon/wire"
)

// A scripted scenario drives the simulator's real replicas, journals and
// checkers through a sequence of faults that the random mix reaches too
// rarely to find. The script replaces injectFaults (faultPhase is off);
// the liveness phase and the final checks are the simulator's own. Most
// scripts are data (testdata/scenarios, scenario_data_test.go); the Go
// one left (scenario_deferred_misdirect_test.go) reads op checksums.

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
