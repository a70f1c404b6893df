package replica

import (
	"fmt"
	"math"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// onRequest applies the session rules (VR Revisited §4.1 step 1, with
// TigerBeetle's session numbers) and queues a new request for the next
// prepare.
func (r *Replica) onRequest(m *wire.Message, h *wire.Header) {
	if r.status != StatusNormal || !r.IsPrimary() {
		r.Counters.DropNotPrimary++
		r.redirect(h)
		return
	}
	invariants.Assert(r.logView == r.view && !r.vc.installing, "replica: a normal primary not in the view it installed")
	if h.Client == statemachine.LocalClient || h.Operation == wire.OperationOutboxAck || r.localOnly(h.Operation) {
		// Only components beside this primary submit local requests
		// (SubmitLocal); from the network they could be forged.
		// outbox_ack is refused whatever the state machine (docs/protocol.md).
		r.Counters.DropBadRequest++
		return
	}
	if h.Operation == wire.OperationRegister {
		r.onRegister(m, h)
		return
	}
	e := r.clients.get(h.Client)
	if e == nil {
		r.Counters.DropNoSession++
		r.sendEviction(h.Client, h.Session, wire.EvictionNoSession)
		return
	}
	if h.Session != e.session {
		r.Counters.DropNoSession++
		reason := wire.EvictionNoSession
		if h.Session < e.session {
			reason = wire.EvictionSessionTooLow
		}
		r.sendEviction(h.Client, h.Session, reason)
		return
	}
	switch {
	case h.Request < e.request:
		r.Counters.DropStaleRequest++
	case h.Request == e.request:
		// A retry of the last committed request: the stored reply answers
		// it if it is the same request (same checksum), without re-execution.
		if e.reply != nil && e.replyHeader.Context == h.Checksum {
			if e.dropped {
				// Executed once; the reply was dropped for newer large
				// replies and cannot be sent again.
				r.Counters.DropReplyDropped++
				r.sendEviction(h.Client, h.Session, wire.EvictionReplyDropped)
				return
			}
			r.resendReply(e)
		} else {
			r.Counters.DropStaleRequest++
		}
	case h.Request > e.request+1:
		// Skips a request number: a correct client never sends it.
		r.Counters.DropRequestAhead++
	case e.inflight:
		r.Counters.DropDuplicate++
	case e.reply != nil && h.Parent != e.replyHeader.Checksum:
		// parent must be the checksum of the session's last reply (the
		// same bytes on every replica): the client saw it.
		r.Counters.DropBadParent++
	default:
		invariants.Assert(e.id == h.Client && e.session > 0, "replica: request matched a session opened at the root op")
		if !r.fits(h) {
			r.Counters.DropBadRequest++
			return
		}
		if !r.enqueue(m, h) {
			return
		}
		e.inflight = true
	}
}

// redirect answers a request that reached a normal backup with redirect:
// the header's view is this replica's, whose primary is view mod replica
// count (docs/protocol.md, "Redirect"). Only a request naming an older view
// is redirected: a client that already knows this view learns nothing from
// it (it broadcast a retry). A replica in a view change does not redirect:
// its view may never start (one cut off from its peers keeps raising it),
// and a client sent there would wait for its retry anyway. At most
// RedirectsPerTick go out per tick, so a flood of requests to a backup
// cannot make it send more than that; the rest are counted.
func (r *Replica) redirect(h *wire.Header) {
	invariants.Assert(h.Command == wire.CommandRequest && !h.Client.IsZero(), "replica: redirect of something else than a client request")
	invariants.Assert(r.status != StatusNormal || !r.IsPrimary(), "replica: a normal primary redirects a request")
	if h.View >= r.view || r.status != StatusNormal {
		return
	}
	if r.redirectTick != r.tick {
		r.redirectTick, r.redirectsInTick = r.tick, 0
	}
	if r.redirectsInTick >= r.cfg.redirectsPerTick() {
		r.Counters.DropRedirectLimit++
		return
	}
	if !r.sendToClient(wire.Header{Command: wire.CommandRedirect, Client: h.Client, Context: h.Checksum}) {
		return
	}
	r.redirectsInTick++
	r.Counters.Redirects++
}

func (r *Replica) onRegister(m *wire.Message, h *wire.Header) {
	invariants.Assert(h.Operation == wire.OperationRegister && r.status == StatusNormal && r.IsPrimary(), "replica: register taken off a normal primary")
	if e := r.clients.get(h.Client); e != nil && e.request == 0 && e.reply != nil && !e.inflight {
		// Already registered and nothing since: answer with the stored reply.
		r.resendReply(e)
		return
	}
	if r.clients.isRegistering(h.Client) {
		r.Counters.DropDuplicate++
		return
	}
	if r.clients.registeringFull() {
		// ClientsMax registers are queued or prepared and not committed:
		// the queue may have room again (they left it for a prepare), but
		// the table could not take more sessions at once. The client
		// retries.
		r.Counters.DropQueueFull++
		return
	}
	if !r.enqueue(m, h) {
		return
	}
	if !r.clients.addRegistering(h.Client) {
		panic("replica: registering list overflow despite its check")
	}
	if invariants.Enabled {
		invariants.Assert(r.clients.isRegistering(h.Client), "replica: queued register not recorded as registering")
	}
}

func (r *Replica) enqueue(m *wire.Message, h *wire.Header) bool {
	if r.requests.full() || (r.held > 0 && r.requests.count >= len(r.requests.items)-localReserve(len(r.requests.items))) {
		// While admission holds requests back, the last slots stay for
		// local requests: the acks that free the held requests' room.
		r.Counters.DropQueueFull++
		return false
	}
	invariants.Assert(h.Command == wire.CommandRequest && h.Size >= wire.HeaderSize, "replica: queued something else than a request")
	invariants.Assert(r.status == StatusNormal && r.IsPrimary(), "replica: request queued off a normal primary")
	r.requests.push(m.Ref(), h.Size, h.Operation, r.tick)
	r.Counters.RequestsReceived++
	return true
}

// fits reports whether the request fits a prepare (behind the
// prepare's own header) and the state machine's reply to it fits a message.
func (r *Replica) fits(h *wire.Header) bool {
	invariants.Assert(RequestSizeMax(r.cfg.Limits.MessageSizeMax) < r.cfg.Limits.MessageSizeMax, "replica: a request fits no prepare")
	return h.Size <= RequestSizeMax(r.cfg.Limits.MessageSizeMax) &&
		r.sm.ReplySizeMax(h.Operation, h.BodySize()) <= int(r.cfg.Limits.MessageSizeMax)-wire.HeaderSize
}

// RequestSizeMax is the largest request (header and body) a cluster with
// this message_size_max accepts: a request travels inside a prepare, behind
// the prepare's header.
func RequestSizeMax(messageSizeMax uint32) uint32 {
	invariants.Assert(messageSizeMax > wire.HeaderSize, "replica: message_size_max without room for a request")
	return messageSizeMax - wire.HeaderSize
}

func (r *Replica) pipelineHasRoom() bool {
	invariants.Assert(r.op >= r.commitMin && r.op-r.commitMin == uint64(r.ring.count), "replica: prepare ring does not hold exactly the uncommitted ops")
	invariants.Assert(r.ring.first == r.commitMin+1, "replica: prepare ring does not start after commit_min")
	if r.op-r.commitMin >= uint64(r.cfg.Limits.PipelinePrepareMax) || r.ring.full() || !r.canWrite() {
		return false
	}
	// Group commit across sessions (unless Config.EagerPrepares): while a
	// prepare is in flight, a new one is cut only when the queued requests
	// fill one (or the queue is full); otherwise they wait for the commit
	// and go out together. Measured on 2 cores (docs/benchmarks.md, "Group
	// commit"): small puts from 64–256 clients gain 11–24 % and halve p99
	// against a prepare per loop turn up to the pipeline's depth; full
	// prepares still pipeline.
	return r.cfg.EagerPrepares || r.op == r.commitMin || r.requests.full() ||
		r.requests.bytes+wire.HeaderSize > uint64(r.cfg.Limits.MessageSizeMax)
}

// canWrite reports whether the journal may take one more write: the
// replica never has more than Limits.JournalWritesMax in flight, so the
// buffers the journal holds stay within the pool's share for them.
func (r *Replica) canWrite() bool {
	invariants.Assert(r.writes >= 0 && r.writes <= r.cfg.Limits.JournalWritesMax, "replica: journal writes in flight out of bounds")
	return r.writes < r.cfg.Limits.JournalWritesMax
}

// prepareBatch packs queued requests, oldest first, into one prepare up to
// message_size_max, assigns it the next op, a timestamp and the parent
// checksum, hands it to the journal and sends it to every backup. A request
// admission holds back goes to the back of the queue (admit). It returns
// false when no buffer was available or every queued request is held.
func (r *Replica) prepareBatch() bool {
	invariants.Assert(r.status == StatusNormal && r.IsPrimary() && r.logView == r.view, "replica: prepare built off a normal primary")
	invariants.Assert(r.commitMax <= r.op && r.op-r.commitMin < uint64(r.cfg.Limits.PipelinePrepareMax), "replica: prepare built with a full pipeline or commit_max above op")
	m := r.newMessage()
	if m == nil {
		return false
	}
	limit := int(r.cfg.Limits.MessageSizeMax)
	size := wire.HeaderSize
	// Each request reserves len(body)+1 nanoseconds of timestamps (see
	// statemachine.Context), so every event of the batch gets its own:
	// the batch owns [timestamp, timestamp+reserve).
	var reserve uint64
	adm := r.admissionStart()
	// What the backups' prefetch will read (statemachine.GridBacked):
	// within the machine's table.
	fetch, fetchMax := 0, 0
	if r.grid != nil {
		fetchMax = r.grid.PrefetchCapacity()
	}
	for n := r.requests.count; n > 0 && !r.requests.empty(); n-- {
		q := r.requests.front()
		if size+int(q.size) > limit {
			break
		}
		if r.grid != nil {
			c := r.grid.PrefetchCost(q.operation, q.msg.Buffer[wire.HeaderSize:q.size])
			invariants.Assert(c >= 0 && c <= fetchMax, "replica: a request's prefetch cost beyond the machine's table")
			if fetch+c > fetchMax {
				break
			}
			fetch += c
		}
		if !r.admit(&adm, q) {
			r.requests.rotate()
			continue
		}
		copy(m.Buffer[size:], q.msg.Bytes(q.size))
		size += int(q.size)
		reserve += uint64(q.size) - wire.HeaderSize + 1
		q.msg.Unref()
		r.requests.pop()
		r.Counters.RequestsBatched++
	}
	if size == wire.HeaderSize {
		// Every queued request is held back by admission (a request that
		// fits no empty prepare is refused before it is queued).
		invariants.Assert(r.held == r.requests.count && r.held > 0, "replica: a queued request does not fit an empty prepare")
		m.Unref()
		return false
	}
	invariants.Assert(reserve > 0 && size <= limit, "replica: prepare batch without timestamps or beyond message_size_max")
	timestamp := r.clock.Realtime()
	if timestamp <= r.timestamp {
		timestamp = r.timestamp + 1
	}
	invariants.Assert(timestamp > r.timestamp && timestamp+reserve > timestamp, "replica: prepare timestamp not after the last one")
	r.timestamp = timestamp + reserve - 1
	h := wire.Header{
		Cluster:   r.cfg.Cluster,
		Size:      uint32(size),
		View:      r.view,
		Protocol:  wire.ProtocolVersion,
		Command:   wire.CommandPrepare,
		Replica:   r.cfg.Replica,
		Op:        r.op + 1,
		Commit:    r.commitMax,
		Timestamp: timestamp,
		Parent:    r.head,
		Operation: wire.OperationBatch,
	}
	wire.Seal(&h, m.Bytes(h.Size))
	if invariants.Enabled {
		r.checkPrepare(m, &h)
	}
	r.appendPrepare(m, &h)
	r.ring.get(h.Op).cost = adm.batch
	r.Counters.PreparesSent++
	for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
		if i != r.cfg.Replica {
			r.bus.SendToReplica(i, m)
		}
	}
	return true
}

// appendPrepare adds prepare m (reference taken over) at op+1 and starts
// its journal write. The caller checked that the ring has room and the
// journal a write slot (canWrite).
func (r *Replica) appendPrepare(m *wire.Message, h *wire.Header) {
	if h.Op != r.op+1 || h.Parent != r.head {
		panic("replica: appended prepare does not extend the hash chain")
	}
	if !r.canWrite() {
		panic(fmt.Sprintf("replica: append of op %d with %d journal writes in flight (max %d)", h.Op, r.writes, r.cfg.Limits.JournalWritesMax))
	}
	invariants.Assert(h.Command == wire.CommandPrepare && h.Op > r.commitMin, "replica: appended something else than an uncommitted prepare")
	invariants.Assert(h.View <= r.view && r.status != StatusRecovering, "replica: appended a prepare of a later view, or while recovering")
	r.future.drop(h.Op)
	r.ring.push(m, h, r.tick)
	r.putLog(h)
	r.op = h.Op
	r.head = h.Checksum
	r.timestamp = max(r.timestamp, lastTimestamp(h, m.Buffer[wire.HeaderSize:h.Size]))
	r.writes++
	invariants.Assert(r.ring.count == int(r.op-r.commitMin) && r.logOp >= r.op, "replica: appended op not the ring's newest")
	r.assertPinned()
	r.journal.WritePrepare(m)
}

// checkPrepare checks a prepare this primary sealed as a backup will check
// it on receipt (the bus's DecodeHeader and VerifyBody), and each request
// of its batch as commit will decode it (applyBatch): tag-only.
func (r *Replica) checkPrepare(m *wire.Message, h *wire.Header) {
	if !invariants.Enabled {
		return
	}
	var d wire.Header
	invariants.Assert(wire.DecodeHeader(m.Bytes(h.Size), &d, &r.wcfg) == nil && d == *h, "replica: sealed prepare does not decode as itself")
	invariants.Assert(wire.VerifyBody(&d, m.Buffer[wire.HeaderSize:h.Size]) == nil, "replica: sealed prepare body does not verify")
	for body := m.Buffer[wire.HeaderSize:h.Size]; len(body) > 0; {
		var req wire.Header
		err := wire.DecodeHeader(body, &req, &r.wcfg)
		invariants.Assert(err == nil && req.Command == wire.CommandRequest && int(req.Size) <= len(body), "replica: prepared batch entry does not decode")
		invariants.Assert(wire.VerifyBody(&req, body[wire.HeaderSize:req.Size]) == nil, "replica: prepared batch entry body does not verify")
		body = body[req.Size:]
	}
}

// onPrepareOK counts a backup's ack and commits what reached a quorum.
func (r *Replica) onPrepareOK(h *wire.Header) {
	if r.status != StatusNormal || !r.IsPrimary() || h.View != r.view {
		r.Counters.DropWrongView++
		return
	}
	invariants.Assert(r.logView == r.view && !r.vc.installing, "replica: a normal primary not in the view it installed")
	if h.Replica == r.cfg.Replica {
		// Its own ack counts when its write completes, never from the
		// network.
		r.Counters.DropUnexpected++
		return
	}
	e := r.ring.get(h.Op)
	if e == nil || e.header.Checksum != h.Context {
		r.Counters.DropStalePrepareOK++
		return
	}
	// The ack names a prepare of this pipeline: uncommitted, in the ring at
	// its op, prepared in this view or carried over by the view change.
	invariants.Assert(e.header.Op == h.Op && h.Op > r.commitMin && h.Op <= r.op, "replica: prepare_ok matched a ring entry of another op")
	invariants.Assert(e.header.View <= r.view && h.Replica < r.cfg.ReplicaCount, "replica: prepare_ok matched a prepare of a later view or a replica out of range")
	e.oks |= 1 << h.Replica
	invariants.Assert(e.oks>>r.cfg.ReplicaCount == 0 && e.okCount() <= int(r.cfg.ReplicaCount), "replica: more acks than replicas")
	r.commitPipeline()
}

// commitPipeline commits, in op order, every prepare that a quorum holds
// durably (VR Revisited §4.1 step 5), then refills the pipeline.
func (r *Replica) commitPipeline() {
	invariants.Assert(r.status == StatusNormal && r.IsPrimary(), "replica: pipeline committed off a normal primary")
	quorum := r.cfg.quorum()
	invariants.Assert(quorum >= 1 && quorum <= int(r.cfg.ReplicaCount), "replica: quorum out of range")
	for {
		e := r.ring.get(r.commitMin + 1)
		if e == nil || e.okCount() < quorum || !e.written {
			break
		}
		invariants.Assert(e.oks&(1<<r.cfg.Replica) != 0, "replica: primary commits an op it has not acknowledged itself")
		r.commitMax = r.commitMin + 1
		if !r.commitOne(e) {
			break
		}
	}
	invariants.Assert(r.commitMin <= r.commitMax && r.commitMax <= r.op, "replica: primary's commit numbers out of order")
	r.Flush()
}

// resendTimedOutPrepares sends uncommitted prepares again to the backups
// that have not acknowledged them.
func (r *Replica) resendTimedOutPrepares() {
	invariants.Assert(r.status == StatusNormal && r.IsPrimary(), "replica: prepares resent off a normal primary")
	for op := r.commitMin + 1; op <= r.op; op++ {
		e := r.ring.get(op)
		invariants.Assert(e != nil, "replica: uncommitted op missing from the primary's prepare ring")
		if invariants.Enabled {
			invariants.Assert(e.oks&(1<<r.cfg.Replica) == 0 || e.written, "replica: primary acknowledged its own unwritten prepare")
		}
		if r.tick-e.sentTick < r.cfg.PrepareTimeoutTicks {
			continue
		}
		e.sentTick = r.tick
		for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
			if i != r.cfg.Replica && e.oks&(1<<i) == 0 {
				r.bus.SendToReplica(i, e.msg)
				r.Counters.PreparesResent++
			}
		}
	}
}

// sendCommitHeartbeat tells backups the commit number when no prepare has
// carried it recently.
func (r *Replica) sendCommitHeartbeat() {
	invariants.Assert(r.status == StatusNormal && r.IsPrimary(), "replica: commit heartbeat off a normal primary")
	invariants.Assert(r.commitMin <= r.commitMax && r.commitMax <= r.op, "replica: primary's commit numbers out of order")
	r.lastCommitSent = r.tick
	for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
		if i == r.cfg.Replica {
			continue
		}
		h := wire.Header{
			Cluster:  r.cfg.Cluster,
			Size:     wire.HeaderSize,
			View:     r.view,
			Protocol: wire.ProtocolVersion,
			Command:  wire.CommandCommit,
			Replica:  r.cfg.Replica,
			Commit:   r.commitMax,
			Op:       r.op,
		}
		if r.commitMax > 0 {
			h.Context = r.committed
		}
		r.sendHeaderOnly(i, &h)
		r.Counters.CommitHeartbeats++
	}
}

func (r *Replica) resendReply(e *clientEntry) {
	invariants.Assert(e.reply != nil && !e.dropped && e.replyHeader.Client == e.id, "replica: resent a reply the session does not hold")
	invariants.Assert(e.replyHeader.Session == e.session, "replica: resent a reply of an older session")
	r.bus.SendToClient(e.id, e.reply)
	r.Counters.RepliesResent++
}

// sendEviction tells client that its session (the session number it
// named, or for table_full the one evicted) ended for reason.
func (r *Replica) sendEviction(client wire.Uint128, session uint64, reason wire.EvictionReason) {
	invariants.Assert(reason != 0 && reason != wire.EvictionTooManyConnections, "replica: eviction without a reason, or a refusal (the bus's)")
	invariants.Assert(r.IsPrimary(), "replica: eviction sent by a backup")
	r.sendToClient(wire.Header{Command: wire.CommandEviction, Client: client, Session: session, Reason: uint8(reason)})
}

// sendToClient seals h as a header-only message of this replica in its
// view (cluster, size, view, protocol and replica filled in) and sends it
// to h.Client. It reports false when no message buffer was free.
func (r *Replica) sendToClient(h wire.Header) bool {
	invariants.Assert(!h.Client.IsZero() && h.Size == 0 && h.View == 0, "replica: client message without a client, or with fields this fills in")
	m := r.newMessage()
	if m == nil {
		return false
	}
	h.Cluster, h.Size, h.View, h.Protocol, h.Replica = r.cfg.Cluster, wire.HeaderSize, r.view, wire.ProtocolVersion, r.cfg.Replica
	wire.Seal(&h, m.Bytes(wire.HeaderSize))
	invariants.Assert(h.Command == wire.CommandRedirect || h.Command == wire.CommandEviction, "replica: header-only client message of another command")
	r.bus.SendToClient(h.Client, m)
	m.Unref()
	return true
}

// SubmitLocal queues a local request of a local-only operation
// (statemachine.LocalOperations) with body for the next prepare: the way
// components running beside the primary (such as a dispatcher reporting
// the outcomes of side effects) put requests through consensus, under
// statemachine.LocalClient, without a session. Only a primary with status
// normal takes it; it returns false otherwise, for an operation the state
// machine does not declare local-only, when the request or its reply
// would not fit a message, or when the queue or the pool is full (the
// submitter tries again later).
func (r *Replica) SubmitLocal(operation wire.Operation, body []byte) bool {
	if !r.localOnly(operation) || r.status != StatusNormal || !r.IsPrimary() || r.requests.full() {
		return false
	}
	if wire.HeaderSize+len(body) > int(RequestSizeMax(r.cfg.Limits.MessageSizeMax)) ||
		r.sm.ReplySizeMax(operation, len(body)) > int(r.cfg.Limits.MessageSizeMax)-wire.HeaderSize {
		return false
	}
	m := r.newMessage()
	if m == nil {
		return false
	}
	r.localRequest++
	h := wire.Header{
		Cluster:   r.cfg.Cluster,
		Size:      uint32(wire.HeaderSize + len(body)),
		View:      r.view,
		Protocol:  wire.ProtocolVersion,
		Command:   wire.CommandRequest,
		Client:    statemachine.LocalClient,
		Session:   1,
		Request:   r.localRequest,
		Operation: operation,
	}
	copy(m.Buffer[wire.HeaderSize:], body)
	wire.Seal(&h, m.Bytes(h.Size))
	invariants.Assert(h.Size <= RequestSizeMax(r.cfg.Limits.MessageSizeMax), "replica: local request does not fit a prepare")
	if invariants.Enabled {
		var d wire.Header
		invariants.Assert(wire.DecodeHeader(m.Bytes(h.Size), &d, &r.wcfg) == nil && d == h, "replica: sealed local request does not decode as itself")
	}
	r.requests.push(m, h.Size, h.Operation, r.tick)
	r.Counters.LocalSubmitted++
	return true
}

// lastTimestamp returns the last timestamp prepare h (whose body is body)
// owns: request i of its batch owns len(input)+1 of them (applyBatch,
// statemachine.Context). A replica records it with every prepare it holds,
// so that as a new primary it never hands one of them out again, whatever
// its own clock says. A malformed batch entry (dropped when applied) ends
// the count at the bound of one timestamp per body byte.
func lastTimestamp(h *wire.Header, body []byte) uint64 {
	invariants.Assert(h.Timestamp > 0 && len(body) == int(h.Size)-wire.HeaderSize, "replica: timestamps of a prepare without a timestamp, or of another body")
	if h.Timestamp > math.MaxUint64-uint64(len(body)) {
		// A peer's timestamp so high its batch's window would wrap: the
		// floor saturates (the primary's own clock never gets there).
		return math.MaxUint64
	}
	bound := h.Timestamp + uint64(len(body)) - 1
	last := h.Timestamp - 1
	for b := body; len(b) > 0; {
		if len(b) < wire.HeaderSize {
			return bound
		}
		var req wire.Header
		req.Decode(b)
		if req.Size < wire.HeaderSize || int(req.Size) > len(b) {
			return bound
		}
		last += uint64(req.Size) - wire.HeaderSize + 1
		b = b[req.Size:]
	}
	invariants.Assert(last <= bound, "replica: batch owns timestamps beyond one per body byte")
	return max(last, h.Timestamp)
}
