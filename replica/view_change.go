package replica

import (
	"fmt"
	"math/bits"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// View change, as in VR Revisited §4.2 with TigerBeetle's refinements:
//
//  1. A backup that hears nothing from the primary for a (randomised)
//     timeout, or any replica that hears of a higher view, moves to
//     view_change for view v and broadcasts start_view_change(v).
//  2. On start_view_change(v) from a quorum (itself included) it makes v
//     durable and sends do_view_change(v) to the primary of v: its log_view
//     (last view in which it was normal), op, commit number and the headers
//     of its latest ops — only if its log reaches the head of the log its
//     log_view stands for (standsForLogView).
//  3. The new primary, on do_view_change from a quorum, picks the log with
//     the highest (log_view, op) (never one ending below a voter's commit
//     number), truncates its own divergent uncommitted ops, repairs what it
//     lacks from the replica that sent the chosen log, commits what any of
//     them knew committed, makes log_view = v durable, and broadcasts
//     start_view(v) with the headers of the new log's tail.
//  4. A replica receiving start_view(v) truncates what disagrees with it,
//     makes v durable, becomes normal, acknowledges the uncommitted ops it
//     holds and repairs the others.
//
// A view change that does not finish in time moves on to the next view.

// dvcVote is one do_view_change received by the primary of the new view.
type dvcVote struct {
	received bool
	logView  uint32
	op       uint64 // the log's head: headers known up to here
	held     uint64 // the replica holds the prepares up to here
	commit   uint64
	headers  []wire.Header
	// maybeAcked is 0 for a whole journal; for a damaged one (a damaged
	// vote, see voteDamagedUntilCaughtUp) the highest op the replica may
	// have acknowledged: every op up to it that the replica does not hold
	// may still have been acknowledged by it.
	maybeAcked uint64
	// anchor is, for a damaged vote, the checksum of a header of the log
	// it stands for at logView (zero: none known): by the hash chain it
	// names that log up to the header's op.
	anchor wire.Uint128
}

// damaged reports whether the vote is a damaged one.
func (d *dvcVote) damaged() bool { return d.maybeAcked != 0 }

// mayHold reports whether the voter may hold op with checksum sum durably
// (or may have acknowledged it): it holds it, or its vote is damaged and op
// is within what it may have acknowledged. A whole journal holds exactly
// the ops up to held, with its own headers.
func (d *dvcVote) mayHold(op uint64, sum wire.Uint128) bool {
	invariants.Assert(d.received && op > 0, "replica: mayHold asked of a vote not received, or of the root")
	if d.held >= op {
		if h := d.header(op); h != nil && h.Checksum == sum {
			return true
		}
	}
	return d.damaged() && op <= d.maybeAcked
}

// header returns the header of op among the vote's headers.
func (d *dvcVote) header(op uint64) *wire.Header {
	if len(d.headers) == 0 || op < d.headers[0].Op || op > d.headers[len(d.headers)-1].Op {
		return nil
	}
	h := &d.headers[op-d.headers[0].Op]
	// decodeHeaders took only contiguous headers.
	invariants.Assert(h.Op == op, "replica: vote's headers not contiguous")
	return h
}

// viewChange is the state of the view change in progress.
type viewChange struct {
	svcVotes   uint64 // replicas that sent start_view_change for the view
	dvcSent    bool
	dvcs       []dvcVote // by replica, on the new primary
	installing bool      // new primary: repairing towards installOp
	refused    bool      // new primary: a quorum's best log ended below its commit number
	installOp  uint64
	// startOp is the op the view starts at for backups' purposes: the head
	// of the ops that may have committed (see possiblyCommittedHead).
	startOp    uint64
	repairFrom uint8
	started    uint64 // tick the view change started
	timeout    uint64 // ticks until it moves on to the next view
	attempts   uint32
	lastResend uint64
	scratch    []wire.Header
	body       []byte
}

// viewChangeHeadersMax is how many of its latest headers a replica sends in
// do_view_change and start_view: more than the uncommitted ops any replica
// can hold (twice the pipeline).
func (r *Replica) viewChangeHeadersMax() int {
	n := 4 * r.cfg.Limits.PipelinePrepareMax
	invariants.Assert(n > 0 && n <= cap(r.vc.scratch), "replica: view change headers do not fit the scratch buffer")
	invariants.Assert(n >= 2*len(r.ring.entries), "replica: view change headers fewer than the ops a replica may hold uncommitted")
	return n
}

// startViewChange moves to view_change for view v (VR Revisited §4.2 step 1).
func (r *Replica) startViewChange(v uint32) {
	if v <= r.view && r.status == StatusViewChange {
		return
	}
	if v < r.view {
		panic(fmt.Sprintf("replica: view change to view %d from view %d", v, r.view))
	}
	invariants.Assert(r.logView <= r.view, "replica: view change with log_view above view")
	if r.status == StatusNormal {
		r.vc.attempts = 0
	} else {
		r.vc.attempts++
	}
	r.view = v
	r.status = StatusViewChange
	r.vc.svcVotes = 1 << r.cfg.Replica
	r.vc.dvcSent = false
	r.vc.installing = false
	r.vc.refused = false
	for i := range r.vc.dvcs {
		r.vc.dvcs[i].received = false
	}
	r.vc.started = r.tick
	r.vc.lastResend = r.tick
	backoff := min(r.vc.attempts, 4)
	r.vc.timeout = r.cfg.ViewChangeTimeoutTicks<<backoff + r.rng.Uint64N(r.cfg.ViewChangeTimeoutTicks)
	r.dropPrimaryWork()
	r.future.clear()
	invariants.Assert(r.future.count == 0 && r.requests.empty(), "replica: view change keeps buffered prepares or queued requests")
	invariants.Assert(r.logView < r.view || r.rejoin.active, "replica: view change in the view it is normal in")
	r.Counters.ViewChanges++
	r.broadcastStartViewChange()
	r.maybeSendDoViewChange()
}

// dropPrimaryWork forgets what only a primary of the old view tracked:
// queued requests and in-flight markers (clients retry).
func (r *Replica) dropPrimaryWork() {
	for !r.requests.empty() {
		r.requests.front().msg.Unref()
		r.requests.pop()
	}
	r.held = 0
	for i := 0; i < r.clients.used; i++ {
		r.clients.entries[i].inflight = false
	}
	r.clients.registering = r.clients.registering[:0]
	invariants.Assert(r.requests.count == 0 && r.requests.empty(), "replica: queued requests left after dropping primary work")
}

func (r *Replica) broadcastStartViewChange() {
	invariants.Assert(r.status == StatusViewChange && r.vc.svcVotes&(1<<r.cfg.Replica) != 0, "replica: start_view_change sent outside a view change it voted for")
	for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
		if i == r.cfg.Replica {
			continue
		}
		h := r.header(wire.CommandStartViewChange)
		r.sendHeaderOnly(i, &h)
	}
}

// header returns a header of command c from this replica in its view.
func (r *Replica) header(c wire.Command) wire.Header {
	invariants.Assert(c.Valid() && c != wire.CommandPrepare && c != wire.CommandReply, "replica: header of a command that carries more than the view")
	return wire.Header{
		Cluster:  r.cfg.Cluster,
		Size:     wire.HeaderSize,
		View:     r.view,
		Protocol: wire.ProtocolVersion,
		Command:  c,
		Replica:  r.cfg.Replica,
	}
}

func (r *Replica) onStartViewChange(h *wire.Header) {
	switch {
	case h.View < r.view:
		r.Counters.DropWrongView++
		return
	case h.View > r.view:
		r.startViewChange(h.View)
	case r.status == StatusNormal:
		// A replica behind us: the primary tells it the view.
		if r.IsPrimary() {
			r.sendStartView(h.Replica)
		}
		return
	}
	if r.status != StatusViewChange {
		return
	}
	invariants.Assert(h.View == r.view && h.Replica < r.cfg.ReplicaCount, "replica: start_view_change counted for another view or a replica out of range")
	r.vc.svcVotes |= 1 << h.Replica
	invariants.Assert(r.vc.svcVotes&(1<<r.cfg.Replica) != 0, "replica: view change without its own start_view_change")
	r.maybeSendDoViewChange()
}

// maybeSendDoViewChange sends do_view_change once a quorum started the
// view change (VR Revisited §4.2 step 2), after making the view durable so
// a restart cannot forget the vote.
func (r *Replica) maybeSendDoViewChange() {
	invariants.Assert(r.status == StatusViewChange || r.vc.dvcSent, "replica: do_view_change considered outside a view change it voted in")
	invariants.Assert(r.vc.svcVotes>>r.cfg.ReplicaCount == 0, "replica: start_view_change votes of replicas out of range")
	if r.vc.dvcSent || bits.OnesCount64(r.vc.svcVotes) < r.cfg.quorum() {
		return
	}
	// The vote stands for the ops this replica holds.
	r.persistView(r.op, r.head)
	invariants.Assert(r.logHeadView == r.logView && r.logHead >= r.op, "replica: durable log head below the ops the vote stands for")
	r.vc.dvcSent = true
	r.sendDoViewChange()
}

// persistView makes the view durable with logOp, the head of the log this
// replica stands for at its log_view (see Journal.PersistView): the ops it
// holds when it votes, the op its view started at when it installs one.
// anchor is the checksum of that log's header at logOp (zero: unknown).
func (r *Replica) persistView(logOp uint64, anchor wire.Uint128) {
	invariants.Assert(r.logView <= r.view && r.commitMin <= r.commitMax, "replica: persisting a log_view above view, or commit_min above commit_max")
	invariants.Assert(r.logView >= r.logHeadView, "replica: persisting a log_view below the one of its log head")
	if err := r.journal.PersistView(r.view, r.logView, logOp, anchor, r.commitMin, r.commitMax); err != nil {
		panic(fmt.Sprintf("replica: persisting view %d failed: %v", r.view, err))
	}
	r.setLogHead(logOp, anchor)
}

// setLogHead records logOp as (part of) the head of the log this replica
// stands for at its log_view, as the journal records VSRState.LogOp:
// replaced when log_view grows, never lowered within one log_view; and
// anchor, when not zero, as the log anchor if it names the same or a
// higher op (VSRState.LogAnchor; a repair during a view change may have
// replaced the uncommitted op it named).
func (r *Replica) setLogHead(logOp uint64, anchor wire.Uint128) {
	if r.logView != r.logHeadView {
		r.logHead, r.logHeadView = logOp, r.logView
		r.logAnchorOp, r.logAnchor = 0, wire.Uint128{}
	} else {
		r.logHead = max(r.logHead, logOp)
	}
	if !anchor.IsZero() && (r.logAnchor.IsZero() || logOp >= r.logAnchorOp) {
		r.logAnchorOp, r.logAnchor = logOp, anchor
	}
	invariants.Assert(r.logHeadView == r.logView && r.logHead >= logOp, "replica: log head not recorded for its log_view")
	invariants.Assert(r.logAnchorOp <= r.logHead && (r.logAnchorOp == 0 || !r.logAnchor.IsZero()), "replica: log anchor above the log head, or without checksum")
}

// restoreLogHead sets, at a restart after restoreView, the head op of the
// log the replica stood for at its log_view (VSRState.LogOp) and that
// log's anchor (VSRState.LogAnchorOp, LogAnchor; zero: none).
func (r *Replica) restoreLogHead(logOp, anchorOp uint64, anchor wire.Uint128) {
	if anchorOp > logOp || (anchor.IsZero() && anchorOp != 0) {
		panic(fmt.Sprintf("replica: log anchor at op %d above log head %d (or without checksum)", anchorOp, logOp))
	}
	invariants.Assert(r.logView <= r.view && r.op == 0 && r.ring.count == 0, "replica: log head restored after the log started")
	r.logHead, r.logHeadView = logOp, r.logView
	r.logAnchorOp, r.logAnchor = anchorOp, anchor
}

// standsForLogView reports whether this replica's log reaches the head of
// the log it stands for at its log_view, so that it may vote with that
// log_view. After a state sync restarted its log from a checkpoint below
// that head, it does not: its log_view still claims the log its view
// started with (every op that may have committed before it), and a vote
// with the shorter log would outrank a complete log of an older log_view
// (issue 11: the new view started below the cluster's commit number). It
// stands for its log_view again once it has learned that log's headers
// (repair), or when a start_view gives it a new log_view.
func (r *Replica) standsForLogView() bool {
	invariants.Assert(r.logHeadView <= r.logView, "replica: log head of a log_view above the replica's")
	invariants.Assert(r.logAnchorOp <= r.logHead, "replica: log anchor above the log head")
	return r.logHeadView != r.logView || r.logOp >= r.logHead
}

func (r *Replica) sendDoViewChange() {
	invariants.Assert(r.status == StatusViewChange && r.vc.dvcSent, "replica: do_view_change sent outside a view change, or before the view was durable")
	primary := r.primaryIndex()
	if r.rejoin.active && (!r.rejoin.damaged || primary == r.cfg.Replica) {
		// Its log may lack ops its lost data file acknowledged; a damaged
		// primary-elect does not install a log (its own vote cannot
		// supply one).
		r.withholdVote()
		return
	}
	if !r.standsForLogView() && !r.rejoin.damaged {
		// A damaged vote may still go: it never supplies the new log, and
		// its bound covers the log head it stands for (damagedBound).
		r.withholdVote()
		return
	}
	if r.logOp < r.op || r.logOp < r.commitMin {
		panic(fmt.Sprintf("replica: log head %d below op %d or commit_min %d", r.logOp, r.op, r.commitMin))
	}
	h := r.header(wire.CommandDoViewChange)
	h.LogView, h.Op, h.Commit, h.OpMin = r.logView, r.logOp, r.commitMax, r.op
	if r.rejoin.active {
		h.Timestamp = r.damagedBound()
		if r.logHeadView == r.logView {
			h.Parent = r.logAnchor // a header of the log it stands for
		}
		r.Counters.VotesDamaged++
	}
	r.vc.body = r.log.encode(r.vc.body[:0], r.logOp, r.viewChangeHeadersMax())
	h.Size = uint32(wire.HeaderSize + len(r.vc.body))
	invariants.Assert(h.LogView <= h.View && h.OpMin <= h.Op, "replica: do_view_change with log_view above view or op_min above op")
	if invariants.Enabled {
		// The headers pass the new primary's checks (recordDoViewChange).
		_, ok := decodeHeaders(r.vc.body, r.logOp, &r.wcfg, make([]wire.Header, 0, r.viewChangeHeadersMax()))
		invariants.Assert(ok, "replica: do_view_change headers do not decode")
	}
	if primary == r.cfg.Replica {
		r.recordDoViewChange(&h, r.vc.body)
		return
	}
	r.sendWithBody(primary, &h, r.vc.body)
}

// sendWithBody seals h and body into a fresh message and sends it.
func (r *Replica) sendWithBody(to uint8, h *wire.Header, body []byte) {
	invariants.Assert(int(h.Size) == wire.HeaderSize+len(body), "replica: message size does not cover its body")
	invariants.Assert(to < r.cfg.ReplicaCount, "replica: message sent to a replica out of range")
	m := r.newMessage()
	if m == nil {
		return
	}
	copy(m.Buffer[wire.HeaderSize:], body)
	wire.Seal(h, m.Bytes(h.Size))
	if invariants.Enabled {
		r.checkSealed(m, h)
	}
	r.bus.SendToReplica(to, m)
	m.Unref()
}

func (r *Replica) onDoViewChange(h *wire.Header, body []byte) {
	if h.View < r.view {
		r.Counters.DropWrongView++
		return
	}
	if h.View > r.view {
		r.startViewChange(h.View)
	}
	if r.primaryIndex() != r.cfg.Replica {
		r.Counters.DropUnexpected++
		return
	}
	if r.status == StatusNormal {
		r.sendStartView(h.Replica) // it missed our start_view
		return
	}
	if r.status != StatusViewChange {
		return
	}
	invariants.Assert(h.View == r.view && r.IsPrimary(), "replica: do_view_change recorded for another view, or off its primary")
	r.vc.svcVotes |= 1 << h.Replica
	r.recordDoViewChange(h, body)
	r.maybeSendDoViewChange()
}

func (r *Replica) recordDoViewChange(h *wire.Header, body []byte) {
	invariants.Assert(r.status == StatusViewChange && r.IsPrimary() && h.View == r.view, "replica: do_view_change recorded outside its view change")
	v := &r.vc.dvcs[h.Replica]
	headers, ok := decodeHeaders(body, h.Op, &r.wcfg, v.headers)
	if !ok {
		r.Counters.DropUnexpected++
		return
	}
	v.received, v.logView, v.op, v.held, v.commit, v.headers = true, h.LogView, h.Op, min(h.OpMin, h.Op), h.Commit, headers
	v.maybeAcked, v.anchor = h.Timestamp, h.Parent
	if r.vc.installing {
		return
	}
	if !r.vc.dvcs[r.cfg.Replica].received {
		return
	}
	if r.vc.dvcs[r.cfg.Replica].damaged() {
		panic(fmt.Sprintf("replica %d: damaged primary-elect recorded its own vote in view %d", r.cfg.Replica, r.view))
	}
	n, whole := 0, 0
	for i := range r.vc.dvcs {
		if d := &r.vc.dvcs[i]; d.received {
			n++
			if !d.damaged() {
				whole++
			}
		}
	}
	invariants.Assert(whole >= 1 && whole <= n && n <= int(r.cfg.ReplicaCount), "replica: votes counted out of range")
	if n < r.cfg.quorum() {
		return
	}
	if whole >= r.cfg.quorum() {
		// A quorum of whole journals decides alone, as without damaged
		// votes: waiting on a damaged vote's maybe-acknowledged ops could
		// stall a view change that needs none of them.
		for i := range r.vc.dvcs {
			if d := &r.vc.dvcs[i]; d.received && d.damaged() {
				d.received = false
			}
		}
	}
	if best := r.bestLog(); best >= 0 {
		r.beginInstall(best)
	}
}

// bestLog returns the voter whose log the new view installs: the whole
// journal with the highest (log_view, op). It returns -1 while a damaged
// vote may stand for a log that this one does not cover — a higher
// log_view, the same log_view with ops it may have acknowledged above the
// log's head that may have committed (mayHaveCommitted), or a commit
// number above it — so the install waits for more votes (or the view
// change times out).
func (r *Replica) bestLog() int {
	best := -1
	for i := range r.vc.dvcs {
		d := &r.vc.dvcs[i]
		if !d.received || d.damaged() {
			continue
		}
		if best < 0 || d.logView > r.vc.dvcs[best].logView ||
			(d.logView == r.vc.dvcs[best].logView && d.op > r.vc.dvcs[best].op) {
			best = i
		}
	}
	if best < 0 {
		panic(fmt.Sprintf("replica %d: no whole vote in view %d", r.cfg.Replica, r.view)) // its own is whole
	}
	b := &r.vc.dvcs[best]
	own := &r.vc.dvcs[r.cfg.Replica]
	invariants.Assert(own.received && !own.damaged(), "replica: primary-elect ranks votes without its own whole vote")
	if invariants.Enabled {
		invariants.Assert(b.logView > own.logView || (b.logView == own.logView && b.op >= own.op), "replica: best log ranks below the primary-elect's own")
	}
	for i := range r.vc.dvcs {
		d := &r.vc.dvcs[i]
		if !d.received || !d.damaged() {
			continue
		}
		if d.commit > b.op || (d.logView > b.logView && !r.agreesWithNewerLog(b, d)) {
			return -1
		}
		if d.logView == b.logView && d.maybeAcked > b.op && r.mayHaveCommitted(b.op+1) {
			return -1
		}
	}
	return best
}

// agreesWithNewerLog reports whether whole vote b's log may stand for the
// log of damaged vote d, whose log_view is higher: b's headers hold d's
// anchor (so, by the hash chain, both logs agree up to the anchor's op),
// and no op above the anchor may have committed through d — d's bound is
// at or below it, or the op after it was certainly held by fewer than a
// quorum. Ops committed in views up to b's log_view are in b's log or, if
// d acknowledged them, in d's log up to its anchor (it names the head of
// the log its view started with, which contains every op committed
// before); ops committed in views above b's log_view were acknowledged by
// a damaged voter of a higher log_view, each of them checked here
// (docs/replica.md, "Damaged journals vote"). Without an anchor, or with
// one b does not hold, the install waits as before.
func (r *Replica) agreesWithNewerLog(b, d *dvcVote) bool {
	invariants.Assert(d.damaged() && !b.damaged(), "replica: anchor check of a whole vote against a damaged one")
	invariants.Assert(d.logView > b.logView, "replica: anchor check of a vote of no newer log_view")
	if d.anchor.IsZero() {
		return false
	}
	for i := range b.headers {
		if h := &b.headers[i]; h.Checksum == d.anchor {
			return d.maybeAcked <= h.Op || !r.mayHaveCommitted(h.Op+1)
		}
	}
	return false
}

// mayHaveCommitted reports whether op may have committed, as far as the
// votes received tell: a commit needs a quorum holding op durably, so it
// counts every replica that may hold it — a whole vote whose log reaches
// op (whatever its checksum), a damaged vote that may have acknowledged
// it or holds it, and every replica that did not vote. Fewer than a quorum
// means neither op nor any later op (commits are in order) committed: a
// damaged vote's maybe-acknowledged ops above the chosen log's head then
// need not wait (they are truncated, as a whole vote's would be), which
// would otherwise stall the view change for good when the only replica
// that held them is that damaged voter.
func (r *Replica) mayHaveCommitted(op uint64) bool {
	holders := int(r.cfg.ReplicaCount)
	for i := range r.vc.dvcs {
		d := &r.vc.dvcs[i]
		if d.received && d.held < op && (!d.damaged() || d.maybeAcked < op) {
			holders-- // it voted and certainly never acknowledged op
		}
	}
	invariants.Assert(op > 0 && holders >= 0 && holders <= int(r.cfg.ReplicaCount), "replica: holders of an op counted out of range")
	return holders >= r.cfg.quorum()
}

// beginInstall starts installing the new log on the new primary (VR
// Revisited §4.2 step 3): the log with the highest (log_view, op) wins.
func (r *Replica) beginInstall(best int) {
	invariants.Assert(r.status == StatusViewChange && r.IsPrimary() && !r.vc.installing, "replica: install begun outside a primary-elect's view change, or twice")
	invariants.Assert(best >= 0 && best < len(r.vc.dvcs) && r.vc.dvcs[best].received, "replica: install of a vote not received")
	var commit uint64
	for i := range r.vc.dvcs {
		if d := &r.vc.dvcs[i]; d.received {
			commit = max(commit, d.commit)
		}
	}
	b := &r.vc.dvcs[best]
	if b.damaged() {
		panic(fmt.Sprintf("replica %d: view %d would install a damaged vote's log", r.cfg.Replica, r.view))
	}
	if b.op < commit {
		// The log that ranks highest lacks ops a voter knows committed: a
		// vote stood for a log_view whose log it did not hold (see
		// standsForLogView). Installing it would truncate committed ops
		// and prepare over them; no other log of this quorum can be
		// trusted either (the ranking is what proves a log complete). Wait:
		// more votes may come, or the view change moves on to the next
		// view.
		if !r.vc.refused {
			r.vc.refused = true
			r.Counters.InstallsRefused++
		}
		return
	}
	installOp := r.availableHead(b, commit)
	if installOp < commit {
		panic(fmt.Sprintf("replica: view %d would install a log ending at op %d below commit number %d", r.view, installOp, commit))
	}
	invariants.Assert(installOp <= b.op, "replica: install beyond the chosen log's head")
	headers := b.headers
	for len(headers) > 0 && headers[len(headers)-1].Op > installOp {
		headers = headers[:len(headers)-1]
	}
	r.vc.installing = true
	r.vc.installOp = installOp
	r.vc.startOp = r.possiblyCommittedHead(b, commit, installOp)
	r.vc.repairFrom = uint8(best)
	invariants.Assert(commit <= r.vc.startOp && r.vc.startOp <= installOp, "replica: view start op outside [commit, install op]")
	r.commitMax = max(r.commitMax, commit)
	r.installLog(headers, installOp)
	invariants.Assert(r.op <= installOp && r.commitMin <= r.op, "replica: installed log beyond the chosen head")
	r.knownOp = installOp
	r.continueInstall()
}

// availableHead is how far the chosen log can be installed: up to the first
// uncommitted op whose prepare no replica of the quorum holds. Such an op
// was never committed (a commit needs a quorum holding it durably, and any
// two quorums share a replica), so truncating it loses nothing — and
// waiting for it would stall every view change.
func (r *Replica) availableHead(b *dvcVote, commit uint64) uint64 {
	head := r.headHeldBy(b, commit, b.op, 1)
	invariants.Assert(head >= commit && head <= b.op, "replica: available head outside [commit, chosen head]")
	r.Counters.OpsNacked += b.op - head
	return head
}

// headHeldBy returns the highest op up to upTo such that every op of the
// chosen log b in (commit, op] may be held, with b's checksum, by at least
// need of the voters (ops below b's header window count as committed). A
// damaged vote may hold every op up to what it may have acknowledged
// (dvcVote.mayHold): it never helps to truncate one.
func (r *Replica) headHeldBy(b *dvcVote, commit, upTo uint64, need int) uint64 {
	invariants.Assert(need >= 1 && need <= int(r.cfg.ReplicaCount), "replica: holders needed out of range")
	invariants.Assert(b.received && !b.damaged(), "replica: held ops counted against a log not chosen")
	for op := commit + 1; op <= upTo; op++ {
		want := b.header(op)
		if want == nil {
			continue // below the chosen log's window: committed
		}
		holders := 0
		for i := range r.vc.dvcs {
			if d := &r.vc.dvcs[i]; d.received && d.mayHold(op, want.Checksum) {
				holders++
			}
		}
		if holders < need {
			return op - 1
		}
	}
	return upTo
}

// possiblyCommittedHead is the highest op of the chosen log up to which
// every op may have committed: an op held by fewer than
// quorum − (replicas that did not vote) of the voters was held by less than
// a quorum, so neither it nor any later op (commits are in order) was
// committed. Backups of the new view must hold the log up to this op before
// they may vote with it (start_view's op_min); the ops after it can only
// commit in the new view, with acks of replicas that would then outrank
// them.
func (r *Replica) possiblyCommittedHead(b *dvcVote, commit, installOp uint64) uint64 {
	voters := 0
	for i := range r.vc.dvcs {
		if r.vc.dvcs[i].received {
			voters++
		}
	}
	need := max(r.cfg.quorum()-(int(r.cfg.ReplicaCount)-voters), 1)
	invariants.Assert(voters >= 1 && need <= voters, "replica: more holders needed than voters")
	head := r.headHeldBy(b, commit, installOp, need)
	invariants.Assert(head >= commit && head <= installOp, "replica: possibly committed head outside [commit, install op]")
	return head
}

// installLog makes headers (the tail of the new view's log, ending at
// headOp) this replica's log: physical uncommitted ops that the headers do
// not confirm are truncated, here and durably in the journal; the headers
// become canonical. Ops below the headers' window cannot be confirmed and
// are truncated too (they are fetched again with their headers).
func (r *Replica) installLog(headers []wire.Header, headOp uint64) {
	first := headOp + 1
	if len(headers) > 0 {
		first = headers[0].Op
	}
	invariants.Assert(len(headers) == 0 || (headers[len(headers)-1].Op == headOp && headOp-first == uint64(len(headers)-1)), "replica: installed headers not contiguous up to the head")
	invariants.Assert(r.status == StatusViewChange || r.view == r.logView, "replica: log installed by a normal replica of another log_view")
	keep := r.commitMin
	for op := r.commitMin + 1; op <= r.op && op <= headOp && op >= first; op++ {
		if headers[op-first].Checksum != r.ring.get(op).header.Checksum {
			break
		}
		keep = op
	}
	for _, h := range headers {
		if h.Op <= r.commitMin {
			if c, ok := r.log.get(h.Op); ok && c.Checksum != h.Checksum {
				panic(fmt.Sprintf("replica: committed op %d differs from the new view's log", h.Op))
			}
		}
	}
	// Prepares buffered ahead of a gap belong to the old view's log.
	r.future.clear()
	if keep < r.op {
		for r.op > keep {
			r.ring.truncateLast()
			r.op--
		}
		if e := r.ring.get(keep); e != nil {
			r.head = e.header.Checksum
		} else {
			r.head = r.committed
		}
		r.Counters.OpsTruncated++
	}
	invariants.Assert(r.op == keep && r.ring.count == int(keep-r.commitMin), "replica: log not truncated to the ops kept")
	if invariants.Enabled && keep+1 >= first && keep+1 <= headOp {
		// The new log continues the kept one: committed ops survive.
		invariants.Assert(headers[keep+1-first].Parent == r.head, "replica: the new view's log does not chain from the ops kept")
	}
	// Durably too, even when nothing above keep is in memory: a restarted
	// replica may journal ops it could not load (above a hole, or beyond
	// its prepare ring), and a later restart must not find them again
	// (they chain from kept ops like the ops this view puts there).
	// Truncate does nothing when the journal holds nothing above keep.
	// A replica without its checkpoint (startWithoutCheckpoint) journals
	// only above it: the ops at or below it are committed.
	if err := r.journal.Truncate(max(keep, r.syncFloor)); err != nil {
		panic(fmt.Sprintf("replica: truncating the log after op %d failed: %v", keep, err))
	}
	r.log.forget(keep)
	r.logOp = keep
	for i := range headers {
		if headers[i].Op > keep {
			r.putLog(&headers[i])
		}
	}
	invariants.Assert(r.logOp >= r.op && r.logOp <= max(headOp, keep), "replica: log head outside the installed log")
}

// continueInstall repairs the new primary's log up to the chosen op and
// then finishes the view change.
func (r *Replica) continueInstall() {
	invariants.Assert(r.status == StatusViewChange && r.vc.installing && r.IsPrimary(), "replica: install continued outside a primary-elect's view change")
	invariants.Assert(r.op <= r.vc.installOp, "replica: new primary's log beyond the op it installs")
	r.commitBackup() // ops known committed apply as they arrive
	if r.op < r.vc.installOp {
		r.requestPrepares(r.vc.repairFrom, r.vc.installOp)
		return
	}
	r.finishInstall()
}

// finishInstall makes the new primary normal in its view and tells the
// backups (start_view).
func (r *Replica) finishInstall() {
	if r.op < r.commitMax {
		panic(fmt.Sprintf("replica: view %d installed with its log ending at op %d below commit_max %d", r.view, r.op, r.commitMax))
	}
	invariants.Assert(r.vc.installing && r.op == r.vc.installOp && r.status == StatusViewChange, "replica: install finished off its install op")
	invariants.Assert(r.view > r.logView || r.rejoin.active, "replica: view installed twice")
	r.vc.installing = false
	r.logView = r.view
	r.viewStartOp = min(r.vc.startOp, r.op)
	r.persistView(r.op, r.head)
	invariants.Assert(r.logHeadView == r.view && r.logHead >= r.op, "replica: durable log head below the installed log")
	r.status = StatusNormal
	r.knownOp = r.op
	invariants.Assert(r.viewStartOp <= r.op && r.logOp == r.op, "replica: new primary's log head beyond its op")
	for op := r.commitMin + 1; op <= r.op; op++ {
		e := r.ring.get(op)
		invariants.Assert(e != nil, "replica: installed op missing from the new primary's ring")
		e.oks = 0
		if e.written {
			e.oks = 1 << r.cfg.Replica
		}
		e.sentTick = r.tick - r.cfg.PrepareTimeoutTicks // resend at once
	}
	for i := uint8(0); i < r.cfg.ReplicaCount; i++ {
		if i != r.cfg.Replica {
			r.sendStartView(i)
		}
	}
	r.lastCommitSent = r.tick
	r.Counters.ViewsStarted++
	r.resendTimedOutPrepares()
	r.commitPipeline()
}

// sendStartView sends this primary's start_view to replica to.
func (r *Replica) sendStartView(to uint8) {
	invariants.Assert(r.status == StatusNormal && r.IsPrimary() && r.logView == r.view, "replica: start_view sent off a normal primary")
	h := r.header(wire.CommandStartView)
	h.Op, h.Commit, h.OpMin = r.op, min(r.commitMax, r.op), min(r.viewStartOp, r.op)
	invariants.Assert(r.commitMin <= h.Commit && r.viewStartOp <= r.op, "replica: start_view below commit_min, or its view started beyond its op")
	r.vc.body = r.log.encode(r.vc.body[:0], r.op, r.viewChangeHeadersMax())
	h.Size = uint32(wire.HeaderSize + len(r.vc.body))
	if invariants.Enabled {
		// The headers pass a backup's checks (onStartView).
		_, ok := decodeHeaders(r.vc.body, r.op, &r.wcfg, make([]wire.Header, 0, cap(r.vc.scratch)))
		invariants.Assert(ok, "replica: start_view headers do not decode")
	}
	r.sendWithBody(to, &h, r.vc.body)
}

// onStartView installs the new view's log on a backup (VR Revisited §4.2
// step 4).
func (r *Replica) onStartView(h *wire.Header, body []byte) {
	if h.View < r.view || (h.View == r.view && r.status == StatusNormal) || h.Replica != uint8(h.View%uint32(r.cfg.ReplicaCount)) || h.Replica == r.cfg.Replica {
		r.Counters.DropWrongView++
		return
	}
	headers, ok := decodeHeaders(body, h.Op, &r.wcfg, r.vc.scratch)
	if !ok {
		r.Counters.DropUnexpected++
		return
	}
	r.vc.scratch = headers
	if h.View > r.view {
		r.dropPrimaryWork()
	}
	invariants.Assert(h.View >= r.view && h.View >= r.logView, "replica: start_view of a view before its own, or log_view going back")
	r.view = h.View
	r.logView = h.View
	r.installLog(headers, h.Op)
	invariants.Assert(r.op <= h.Op && r.logOp >= r.op, "replica: backup's log beyond the start_view's head")
	// What this replica must hold before it may vote with log_view v: the
	// log view v started with (ops the primary prepared since can only
	// commit with acks from replicas that would outrank this one).
	r.viewStartOp = h.OpMin
	var anchor wire.Uint128
	if s, ok := r.log.get(h.OpMin); ok && s.Op == h.OpMin {
		anchor = s.Checksum
	}
	r.persistView(h.OpMin, anchor)
	invariants.Assert(r.logHeadView == r.view && r.logHead >= h.OpMin, "replica: durable log head below the view's start")
	r.status = StatusNormal
	r.vc.installing = false
	r.knownOp = h.Op // what the primary of this view has; older hopes are gone
	r.commitMax = max(r.commitMax, h.Commit)
	r.learnRejoinTarget(h.Op, true)
	r.lastPrimaryTick = r.tick
	r.normalTimeout = r.randomNormalTimeout()
	invariants.Assert(!r.IsPrimary() && r.logView == r.view, "replica: start_view installed by its own primary")
	for op := r.commitMin + 1; op <= r.op; op++ {
		if e := r.ring.get(op); e != nil && e.written {
			r.sendPrepareOK(&e.header)
		}
	}
	r.commitBackup()
	r.requestMissingPrepares()
}

// requestStartView asks the primary of view v for its start_view, when a
// message shows this replica missed view v.
func (r *Replica) requestStartView(v uint32) {
	if r.tick == r.lastStartViewRequest {
		return
	}
	r.lastStartViewRequest = r.tick
	invariants.Assert(v > r.view && r.cfg.ReplicaCount > 1, "replica: start_view requested for a view not ahead")
	primary := uint8(v % uint32(r.cfg.ReplicaCount))
	if primary == r.cfg.Replica {
		r.startViewChange(v)
		return
	}
	h := r.header(wire.CommandRequestStartView)
	h.View = v
	r.sendHeaderOnly(primary, &h)
}

func (r *Replica) onRequestStartView(h *wire.Header) {
	if h.View == r.view && r.status == StatusNormal && r.IsPrimary() {
		r.sendStartView(h.Replica)
	}
}

// tickViewChange retries a view change that did not finish in time (in
// the next view) and resends what may have been lost.
func (r *Replica) tickViewChange() {
	invariants.Assert(r.status == StatusViewChange && r.tick >= r.vc.started, "replica: view change ticked outside a view change")
	invariants.Assert(r.vc.timeout >= r.cfg.ViewChangeTimeoutTicks, "replica: view change timeout below its minimum")
	if r.tick-r.vc.started >= r.vc.timeout {
		r.startViewChange(r.view + 1)
		return
	}
	if r.tick-r.vc.lastResend < r.cfg.CommitTimeoutTicks {
		return
	}
	r.vc.lastResend = r.tick
	r.tickDamagedRepair()
	r.broadcastStartViewChange()
	if r.vc.dvcSent && !r.IsPrimary() {
		r.sendDoViewChange()
	}
	if r.vc.installing {
		r.continueInstall()
	}
}

func (r *Replica) randomNormalTimeout() uint64 {
	t := r.cfg.NormalTimeoutTicks + r.rng.Uint64N(r.cfg.NormalTimeoutTicks)
	invariants.Assert(t >= r.cfg.NormalTimeoutTicks && t < 2*r.cfg.NormalTimeoutTicks, "replica: normal timeout out of [T, 2T)")
	return t
}
