package replica

import "github.com/chronon-db/chronon/wire"

// repairRequestsPerTick bounds how many request_prepare messages a lagging
// backup sends per tick (at most what its ring can take).
const repairRequestsPerTick = 16

// pendingRead is a journal read started to answer a peer's request_prepare.
type pendingRead struct {
	msg *wire.Message
	to  uint8
}

// requestMissingPrepares asks the primary for the ops this backup lacks
// between its head and the highest op it knows of. Each answer must extend
// the hash chain, so a wrong or stale prepare is never accepted.
func (r *Replica) requestMissingPrepares() {
	if r.knownOp <= r.op {
		return
	}
	last := min(r.knownOp, r.op+repairRequestsPerTick, r.commitMin+uint64(len(r.ring.entries)))
	for op := r.op + 1; op <= last; op++ {
		if r.future.has(op) {
			continue
		}
		h := wire.Header{
			Cluster:  r.cfg.Cluster,
			Size:     wire.HeaderSize,
			View:     r.view,
			Protocol: wire.ProtocolVersion,
			Command:  wire.CommandRequestPrepare,
			Replica:  r.cfg.Replica,
			Op:       op,
		}
		r.sendHeaderOnly(r.primaryIndex(), &h)
		r.Counters.RepairRequested++
	}
}

// onRequestPrepare answers a peer with the prepare of the requested op, from
// the pipeline if it is there, otherwise from the journal.
func (r *Replica) onRequestPrepare(h *wire.Header) {
	if r.status != StatusNormal || h.Replica == r.cfg.Replica || h.Op == 0 || h.Op > r.op {
		r.Counters.DropUnexpected++
		return
	}
	if e := r.ring.get(h.Op); e != nil {
		if h.Context.IsZero() || h.Context == e.header.Checksum {
			r.bus.SendToReplica(h.Replica, e.msg)
			r.Counters.RepairAnswered++
		}
		return
	}
	if len(r.reads) == cap(r.reads) {
		r.Counters.DropUnexpected++
		return
	}
	m := r.newMessage()
	if m == nil {
		return
	}
	r.reads = append(r.reads, pendingRead{msg: m, to: h.Replica})
	r.journal.ReadPrepare(h.Op, m)
}

// OnPrepareRead is the journal's completion for ReadPrepare(op, m).
func (r *Replica) OnPrepareRead(m *wire.Message, found bool) {
	for i := range r.reads {
		if r.reads[i].msg != m {
			continue
		}
		to := r.reads[i].to
		last := len(r.reads) - 1
		r.reads[i] = r.reads[last]
		r.reads = r.reads[:last]
		if found {
			r.bus.SendToReplica(to, m)
			r.Counters.RepairAnswered++
		} else {
			r.Counters.RepairNotFound++
		}
		m.Unref()
		return
	}
	panic("replica: completion of a journal read that was not started")
}
