package replica

import (
	"fmt"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// onRequest applies the session rules (VR Revisited §4.1 step 1, with
// TigerBeetle's session numbers) and queues a new request for the next
// prepare.
func (r *Replica) onRequest(m *wire.Message, h *wire.Header) {
	if r.status != StatusNormal || !r.IsPrimary() {
		r.Counters.DropNotPrimary++
		return
	}
	if h.Client == statemachine.LocalClient || r.localOnly(h.Operation) {
		// Only components beside this primary submit local requests
		// (SubmitLocal); from the network they could be forged.
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
		r.sendEviction(h.Client, wire.EvictionNoSession)
		return
	}
	if h.Session != e.session {
		r.Counters.DropNoSession++
		reason := wire.EvictionNoSession
		if h.Session < e.session {
			reason = wire.EvictionSessionTooLow
		}
		r.sendEviction(h.Client, reason)
		return
	}
	switch {
	case h.Request < e.request:
		r.Counters.DropStaleRequest++
	case h.Request == e.request:
		// A retry of the last committed request: the stored reply answers
		// it if it is the same request (same checksum), without re-execution.
		if e.reply != nil && e.replyHeader.Context == h.Checksum {
			r.resendReply(e)
		} else {
			r.Counters.DropStaleRequest++
		}
	case h.Request > e.request+1:
		r.Counters.DropBadRequest++
	case e.inflight:
		r.Counters.DropDuplicate++
	default:
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

func (r *Replica) onRegister(m *wire.Message, h *wire.Header) {
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
}

func (r *Replica) enqueue(m *wire.Message, h *wire.Header) bool {
	if r.requests.full() {
		r.Counters.DropQueueFull++
		return false
	}
	r.requests.push(m.Ref(), h.Size)
	r.Counters.RequestsReceived++
	return true
}

// fits reports whether the request fits a prepare (behind the
// prepare's own header) and the state machine's reply to it fits a message.
func (r *Replica) fits(h *wire.Header) bool {
	return h.Size <= RequestSizeMax(r.cfg.Limits.MessageSizeMax) &&
		r.sm.ReplySizeMax(h.Operation, h.BodySize()) <= int(r.cfg.Limits.MessageSizeMax)-wire.HeaderSize
}

// RequestSizeMax is the largest request (header and body) a cluster with
// this message_size_max accepts: a request travels inside a prepare, behind
// the prepare's header.
func RequestSizeMax(messageSizeMax uint32) uint32 { return messageSizeMax - wire.HeaderSize }

func (r *Replica) pipelineHasRoom() bool {
	return r.op-r.commitMin < uint64(r.cfg.Limits.PipelinePrepareMax) && !r.ring.full() && r.canWrite()
}

// canWrite reports whether the journal may take one more write: the
// replica never has more than Limits.JournalWritesMax in flight, so the
// buffers the journal holds stay within the pool's share for them.
func (r *Replica) canWrite() bool { return r.writes < r.cfg.Limits.JournalWritesMax }

// prepareBatch packs queued requests, oldest first, into one prepare up to
// message_size_max, assigns it the next op, a timestamp and the parent
// checksum, hands it to the journal and sends it to every backup. It returns
// false when no buffer was available.
func (r *Replica) prepareBatch() bool {
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
	for !r.requests.empty() {
		q := r.requests.front()
		if size+int(q.size) > limit {
			break
		}
		copy(m.Buffer[size:], q.msg.Bytes(q.size))
		size += int(q.size)
		reserve += uint64(q.size) - wire.HeaderSize + 1
		q.msg.Unref()
		r.requests.pop()
		r.Counters.RequestsBatched++
	}
	if size == wire.HeaderSize {
		panic("replica: a queued request does not fit an empty prepare")
	}
	timestamp := r.clock.Realtime()
	if timestamp <= r.timestamp {
		timestamp = r.timestamp + 1
	}
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
	r.appendPrepare(m, &h)
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
	r.future.drop(h.Op)
	r.ring.push(m, h, r.tick)
	r.putLog(h)
	r.op = h.Op
	r.head = h.Checksum
	if h.Timestamp > r.timestamp {
		r.timestamp = h.Timestamp
	}
	r.writes++
	r.assertPinned()
	r.journal.WritePrepare(m)
}

// onPrepareOK counts a backup's ack and commits what reached a quorum.
func (r *Replica) onPrepareOK(h *wire.Header) {
	if r.status != StatusNormal || !r.IsPrimary() || h.View != r.view {
		r.Counters.DropWrongView++
		return
	}
	e := r.ring.get(h.Op)
	if e == nil || e.header.Checksum != h.Context {
		r.Counters.DropStalePrepareOK++
		return
	}
	e.oks |= 1 << h.Replica
	r.commitPipeline()
}

// commitPipeline commits, in op order, every prepare that a quorum holds
// durably (VR Revisited §4.1 step 5), then refills the pipeline.
func (r *Replica) commitPipeline() {
	quorum := r.cfg.quorum()
	for {
		e := r.ring.get(r.commitMin + 1)
		if e == nil || e.okCount() < quorum || !e.written {
			break
		}
		r.commitMax = r.commitMin + 1
		r.commitOne(e)
	}
	r.Flush()
}

// resendTimedOutPrepares sends uncommitted prepares again to the backups
// that have not acknowledged them.
func (r *Replica) resendTimedOutPrepares() {
	for op := r.commitMin + 1; op <= r.op; op++ {
		e := r.ring.get(op)
		if e == nil || r.tick-e.sentTick < r.cfg.PrepareTimeoutTicks {
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
	r.bus.SendToClient(e.id, e.reply)
	r.Counters.RepliesResent++
}

func (r *Replica) sendEviction(client wire.Uint128, reason wire.EvictionReason) {
	m := r.newMessage()
	if m == nil {
		return
	}
	h := wire.Header{
		Cluster:  r.cfg.Cluster,
		Size:     wire.HeaderSize,
		View:     r.view,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandEviction,
		Replica:  r.cfg.Replica,
		Client:   client,
		Reason:   uint8(reason),
	}
	wire.Seal(&h, m.Bytes(wire.HeaderSize))
	r.bus.SendToClient(client, m)
	m.Unref()
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
	r.requests.push(m, h.Size)
	r.Counters.LocalSubmitted++
	return true
}
