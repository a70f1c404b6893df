package replica

import (
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// repairRequestsPerTick bounds how many request_prepare messages a lagging
// backup sends per tick (at most what its ring can take).
const repairRequestsPerTick = 16

// pendingRead is a journal read started to answer a peer's request_prepare.
type pendingRead struct {
	msg  *wire.Message
	to   uint8
	want wire.Uint128 // expected checksum, or zero for any
	op   uint64
}

// requestMissingPrepares asks the primary for the ops this backup lacks
// between its head and the highest op it knows of. Each answer must extend
// the hash chain, so a wrong or stale prepare is never accepted.
func (r *Replica) requestMissingPrepares() {
	invariants.Assert(r.status == StatusNormal && !r.IsPrimary(), "replica: missing prepares requested off a normal backup")
	if r.needsCheckpoint() {
		r.requestCheckpointFloor()
		return
	}
	if r.knownOp <= r.op {
		return
	}
	r.requestPrepares(r.primaryIndex(), r.knownOp)
}

// requestPrepares repairs the ops after this replica's head up to upTo, as
// many as the ring can take: each by its canonical checksum, from the
// replicas in turn (any of them may hold it; the checksum proves it). Where
// the canonical header is not known yet, it first asks replica from (the
// primary, or the replica whose log a view change chose) for headers.
func (r *Replica) requestPrepares(from uint8, upTo uint64) {
	invariants.Assert(from < r.cfg.ReplicaCount, "replica: repair from a replica out of range")
	invariants.Assert(r.status == StatusNormal || r.vc.installing, "replica: repair outside normal status or an install")
	if r.needsCheckpoint() {
		return
	}
	// A buffered prepare that can extend the log now is used; one that
	// cannot (stale, from another view) is dropped rather than waited for.
	if !r.vc.installing {
		r.appendFuture()
	}
	last := min(upTo, r.op+repairRequestsPerTick, r.commitMin+uint64(len(r.ring.entries)))
	invariants.Assert(last <= r.commitMin+uint64(len(r.ring.entries)), "replica: repair beyond what the prepare ring can take")
	r.repairTurn++
	for op := r.op + 1; op <= last; op++ {
		if r.future.has(op) {
			continue
		}
		c, ok := r.log.get(op)
		if !ok {
			if r.status == StatusNormal && r.view == r.logView {
				// The primary's own prepares of this view need no header.
				r.sendRequestPrepare(from, op, wire.Uint128{})
			}
			r.requestHeaders(from, op, upTo)
			return
		}
		// Any replica holding the exact checksum may answer; asking them in
		// turn gets past one whose copy is missing or damaged.
		r.sendRequestPrepare(r.repairPeer(op), op, c.Checksum)
	}
}

// repairPeer picks the replica to ask for op in this round: they take
// turns, round after round, so a missing or damaged prepare on one does
// not stall the repair. The turn counts rounds, not ticks: rounds come
// every few ticks, and a round period that is a multiple of the replica
// count would ask the same peer for the same op for ever (seed 32112 of 5
// replicas: the new primary asked two replicas that lacked ops 191 and
// 193 every 10 ticks, for good).
func (r *Replica) repairPeer(op uint64) uint8 {
	n := uint64(r.cfg.ReplicaCount)
	invariants.Assert(n >= 2, "replica: repair peer of a single replica")
	to := uint8((op + r.repairTurn) % n)
	if to == r.cfg.Replica {
		to = uint8((uint64(to) + 1) % n)
	}
	if to == r.cfg.Replica || uint64(to) >= n {
		panic(fmt.Sprintf("replica %d: repair peer %d of %d replicas", r.cfg.Replica, to, n))
	}
	return to
}

func (r *Replica) sendRequestPrepare(to uint8, op uint64, checksum wire.Uint128) {
	// Only ops after the head, within what the prepare ring can take.
	invariants.Assert(op > r.op && op > r.commitMin && op <= r.commitMin+uint64(len(r.ring.entries)), "replica: repair of an op outside (op, commit_min + ring]")
	invariants.Assert(to < r.cfg.ReplicaCount, "replica: repair asked of a replica out of range")
	if to == r.cfg.Replica {
		return
	}
	h := r.header(wire.CommandRequestPrepare)
	h.Op, h.Context = op, checksum
	r.sendHeaderOnly(to, &h)
	r.Counters.RepairRequested++
}

// headersPerRequest bounds a headers answer.
const headersPerRequest = 64

func (r *Replica) requestHeaders(from uint8, op, upTo uint64) {
	if from == r.cfg.Replica {
		return
	}
	invariants.Assert(op > r.op && op <= upTo, "replica: headers asked for ops outside (op, up to]")
	h := r.header(wire.CommandRequestHeaders)
	h.OpMin, h.Op = op, min(upTo, op+headersPerRequest-1)
	invariants.Assert(h.OpMin <= h.Op && h.Op-h.OpMin < headersPerRequest, "replica: headers asked beyond one answer")
	r.sendHeaderOnly(from, &h)
}

// onRequestHeaders answers with the canonical headers this replica knows in
// the requested range (a contiguous run from op_min).
func (r *Replica) onRequestHeaders(h *wire.Header) {
	if h.Replica == r.cfg.Replica || h.OpMin == 0 {
		// Op 0 is the root, which every replica has.
		return
	}
	if r.rejoin.active {
		// A primary installing a log may ask the replica whose vote it
		// chose; that vote may be the lost incarnation's, whose log this
		// replica does not have.
		r.Counters.DropRejoining++
		return
	}
	last := h.OpMin - 1
	for op := h.OpMin; op <= h.Op && op <= r.logOp && op-h.OpMin < headersPerRequest; op++ {
		if _, ok := r.log.get(op); !ok {
			break
		}
		last = op
	}
	if last < h.OpMin {
		if h.OpMin <= r.cp.op && r.status == StatusNormal && r.IsPrimary() {
			// Covered by the checkpoint but not named here (the restart's
			// walk back through the WAL stopped at a damaged slot): the
			// peer can start from the checkpoint instead.
			r.offerCheckpoint(h.Replica)
		}
		return
	}
	invariants.Assert(last >= h.OpMin && last-h.OpMin < headersPerRequest && last <= r.logOp, "replica: headers answer outside the request")
	reply := r.header(wire.CommandHeaders)
	r.vc.body = r.vc.body[:0]
	for op := h.OpMin; op <= last; op++ {
		c, ok := r.log.get(op)
		invariants.Assert(ok, "replica: headers answer has a hole")
		var b [wire.HeaderSize]byte
		c.Encode(b[:])
		r.vc.body = append(r.vc.body, b[:]...)
	}
	reply.Size = uint32(wire.HeaderSize + len(r.vc.body))
	r.sendWithBody(h.Replica, &reply, r.vc.body)
}

// onHeaders takes canonical headers from the replica whose log is
// authoritative: the primary of this view, or during a view change the
// replica whose log the new primary chose.
func (r *Replica) onHeaders(h *wire.Header, body []byte) {
	trusted := h.View == r.view && ((r.status == StatusNormal && !r.IsPrimary() && h.Replica == r.primaryIndex()) ||
		(r.status == StatusViewChange && r.vc.installing && h.Replica == r.vc.repairFrom))
	if !trusted || len(body) == 0 {
		r.Counters.DropUnexpected++
		return
	}
	var last wire.Header
	last.Decode(body[len(body)-wire.HeaderSize:])
	headers, ok := decodeHeaders(body, last.Op, &r.wcfg, r.vc.scratch)
	if !ok {
		r.Counters.DropUnexpected++
		return
	}
	r.vc.scratch = headers
	invariants.Assert(len(headers) > 0 && headers[len(headers)-1].Op == last.Op, "replica: decoded headers do not end at the last one")
	// They must continue this replica's physical log.
	if first := headers[0].Op; first <= r.op+1 && first > 0 {
		if first == r.op+1 && headers[0].Parent != r.head {
			r.Counters.DropBrokenChain++
			return
		}
	}
	for i := range headers {
		if headers[i].Op > r.op {
			r.putLog(&headers[i])
		}
	}
	invariants.Assert(last.Op <= r.op || r.logOp >= last.Op, "replica: headers learned beyond the head but not the log head")
	if r.vc.installing {
		r.continueInstall()
	} else {
		r.requestMissingPrepares()
	}
}

// onRequestPrepare answers a peer with the prepare of the requested op, from
// the pipeline if it is there, otherwise from the journal.
func (r *Replica) onRequestPrepare(h *wire.Header) {
	if h.Replica == r.cfg.Replica || h.Op == 0 || h.Op > r.op {
		r.Counters.DropUnexpected++
		return
	}
	if e := r.ring.get(h.Op); e != nil {
		if h.Context.IsZero() || h.Context == e.header.Checksum {
			invariants.Assert(e.header.Op == h.Op && e.msg.Refs() > 0, "replica: repair answered with another op")
			r.bus.SendToReplica(h.Replica, e.msg)
			r.Counters.RepairAnswered++
		}
		return
	}
	// Not in the ring: committed here, in the journal or the checkpoint.
	invariants.Assert(h.Op <= r.commitMin, "replica: uncommitted op missing from the prepare ring")
	if len(r.reads) == cap(r.reads) {
		r.Counters.DropUnexpected++
		return
	}
	m := r.newMessage()
	if m == nil {
		return
	}
	r.reads = append(r.reads, pendingRead{msg: m, to: h.Replica, want: h.Context, op: h.Op})
	invariants.Assert(len(r.reads) <= cap(r.reads), "replica: journal reads grew beyond their limit")
	r.journal.ReadPrepare(h.Op, m)
}

// OnPrepareRead is the journal's completion for ReadPrepare(op, m).
func (r *Replica) OnPrepareRead(m *wire.Message, found bool) {
	for i := range r.reads {
		if r.reads[i].msg != m {
			continue
		}
		to, want, op := r.reads[i].to, r.reads[i].want, r.reads[i].op
		if found && !want.IsZero() {
			var h wire.Header
			h.Decode(m.Buffer[:wire.HeaderSize])
			found = h.Checksum == want
			// The checksum names the op: the journal read that op's slot.
			invariants.Assert(!found || (h.Op == op && h.Command == wire.CommandPrepare), "replica: journal read answered another op with the wanted checksum")
		}
		last := len(r.reads) - 1
		r.reads[i] = r.reads[last]
		r.reads = r.reads[:last]
		if to == r.cfg.Replica {
			// Its own journal, for a damaged replica's repair.
			if found && r.status == StatusViewChange && r.rejoin.damaged {
				var h wire.Header
				h.Decode(m.Buffer[:wire.HeaderSize])
				r.onDamagedRepairPrepare(m, &h)
			}
			m.Unref()
			return
		}
		if found {
			invariants.Assert(to < r.cfg.ReplicaCount && op > 0, "replica: repair answer to a replica out of range, or of the root")
			r.bus.SendToReplica(to, m)
			r.Counters.RepairAnswered++
		} else {
			r.Counters.RepairNotFound++
			if op <= r.cp.op {
				// Gone from the WAL but in the checkpoint: the peer syncs.
				r.offerCheckpoint(to)
			}
		}
		m.Unref()
		return
	}
	panic("replica: completion of a journal read that was not started")
}
