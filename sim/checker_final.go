package sim

import (
	"github.com/chronon-db/chronon/wire"
)

// finalChecks runs the end-of-run invariants on a converged cluster.
func (s *Sim) finalChecks() {
	for _, c := range s.clients {
		if c.op >= 0 {
			c.state.abandon(c, s.history.input(c.op))
		}
	}
	s.history.finish()
	if err := s.replies.checkAcked(); err != nil {
		s.fail(err)
		return
	}
	maxAcked := s.replies.maxAckedOp()
	// The highest request number acknowledged per client id, to check that
	// every replica applied it (exactly once: the machine wrapper catches
	// repeats as they happen).
	ackedNumber := map[wire.Uint128]uint32{}
	for _, a := range s.replies.acks {
		if a.number > 0 {
			ackedNumber[a.client] = max(ackedNumber[a.client], a.number)
		}
	}
	for _, h := range s.hosts {
		r := h.replica
		if r.CommitMin() < maxAcked {
			s.fail(violation(InvariantAckedLost, "replica %d committed up to op %d, but op %d was acknowledged", h.index, r.CommitMin(), maxAcked))
			return
		}
		if sum, ok := s.chain.at(r.CommitMin()); !ok || sum != r.CommitChecksum() {
			s.fail(violation(InvariantHashChain, "replica %d's final commit %d is not on the committed chain", h.index, r.CommitMin()))
			return
		}
		for _, a := range s.replies.acks {
			if a.number == 0 {
				continue
			}
			if last := h.machine.last[a.client]; last < ackedNumber[a.client] {
				s.fail(violation(InvariantAckedLost, "replica %d applied client %x up to request %d, but request %d was acknowledged", h.index, a.client.Lo, last, ackedNumber[a.client]))
				return
			}
		}
		if h.ledger != nil {
			s.checkLedger(h)
		}
	}
	if s.sc.workload == WorkloadKV {
		s.fail(checkLinearizable(s.history.ops))
	}
	if s.err == nil {
		s.checkOutbox()
	}
}

// checkLedger checks one replica's ledger against what clients learned:
// every acknowledged transfer exists, no more transfers exist than were
// sent, and (amount 1 each) debits and credits posted both equal the
// number of transfers.
func (s *Sim) checkLedger(h *host) {
	l := h.ledger
	n := l.TransfersCount()
	acked, unknown := len(s.ledger.acked), s.ledger.unknown
	if n < acked || n > acked+unknown {
		s.fail(violation(InvariantExactlyOnce, "replica %d holds %d transfers; clients saw %d created and %d with unknown outcome", h.index, n, acked, unknown))
		return
	}
	for _, id := range s.ledger.acked {
		if _, ok := l.Transfer(id); !ok {
			s.fail(violation(InvariantAckedLost, "replica %d lost acknowledged transfer %x:%x", h.index, id.Hi, id.Lo))
			return
		}
	}
	for _, id := range s.ledger.refused {
		if _, ok := l.Transfer(id); ok {
			s.fail(violation(InvariantOutboxFull, "replica %d holds transfer %x:%x, which was answered outbox_full", h.index, id.Hi, id.Lo))
			return
		}
	}
	var debits, credits uint64
	for i := 1; i <= ledgerAccounts; i++ {
		a, ok := l.Account(wire.Uint128{Lo: uint64(i)})
		if !ok {
			if n > 0 {
				s.fail(violation(InvariantWorkload, "replica %d has transfers but no account %d", h.index, i))
				return
			}
			continue
		}
		debits += a.DebitsPosted.Lo
		credits += a.CreditsPosted.Lo
	}
	if debits != uint64(n) || credits != uint64(n) {
		s.fail(violation(InvariantExactlyOnce, "replica %d: %d transfers of 1 but %d debits and %d credits posted", h.index, n, debits, credits))
	}
}
