package bus

import (
	"crypto/hmac"
	"errors"
	"net/netip"

	"github.com/chronon-db/chronon/internal/invariants"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/wire"
)

type connectionState uint8

const (
	stateFree connectionState = iota
	stateConnecting
	stateConnected
	stateClosing
)

type peerKind uint8

const (
	kindUnknown peerKind = iota
	kindReplica
	kindClient
)

// connection is one TCP connection slot, allocated with the bus and reused.
type connection struct {
	bus      *Bus
	state    connectionState
	fd       int
	dialPeer int // replica index this slot dialled, or -1 if accepted
	kind     peerKind
	replica  uint8
	client   wire.Uint128
	// addr is the source address of an accepted connection; seq orders
	// accepted connections (the oldest silent one goes first when room is
	// needed).
	addr netip.Addr
	seq  uint64
	// hs is the peer handshake in progress (cluster keys configured).
	hs handshake

	connectC cio.Completion
	recvC    cio.Completion
	sendC    cio.Completion
	closeC   cio.Completion

	// lead receives the stream: filled bytes of it are valid. A message
	// that fits it is copied whole into a pool buffer for the handler; a
	// larger one moves into a pool buffer (big) as soon as its header is
	// known, and the rest of it is received there, exactly to its end.
	// Between messages a connection holds no pool buffer, so idle client
	// connections cost no share of the client receive budget.
	lead      []byte
	filled    int
	big       *wire.Message
	bigFilled int
	header    wire.Header
	// stalled means receiving waits for a pool buffer (the client budget,
	// or the peers' share, is spent); a tick retries (resume), which does
	// not count again (retrying).
	stalled, retrying bool

	// since is the tick the connection was established; active the tick
	// of its last traffic (for HandshakeTimeoutTicks, IdleTimeoutTicks).
	since  uint64
	active uint64
	// clientSends is how many messages of the queue count against the
	// bus's ClientSendsMax.
	clientSends int

	// queue is a ring of messages to send; sent bytes of the first are out.
	queue []*wire.Message
	head  int
	count int
	sent  int
}

func (c *connection) init(b *Bus, lead []byte) {
	invariants.Assert(len(lead) >= wire.HeaderSize, "bus: receive lead buffer without room for a header")
	c.bus = b
	c.lead = lead
	c.fd = -1
	c.dialPeer = -1
	size := max(b.cfg.Limits.PeerSendQueueMax, b.cfg.Limits.ClientSendQueueMax, 1)
	c.queue = make([]*wire.Message, size)
	for _, comp := range []*cio.Completion{&c.connectC, &c.recvC, &c.sendC, &c.closeC} {
		comp.Context = c
	}
	c.connectC.Callback = onConnect
	c.recvC.Callback = onRecv
	c.sendC.Callback = onSend
	c.closeC.Callback = onClosed
}

// reset returns the slot to free. Only call it when nothing is in flight.
func (c *connection) reset() {
	if c.big != nil {
		c.big.Unref()
	}
	c.dropQueue()
	c.state, c.fd, c.dialPeer, c.kind = stateFree, -1, -1, kindUnknown
	c.replica, c.client = 0, wire.Uint128{}
	c.big, c.filled, c.bigFilled, c.sent = nil, 0, 0, 0
	c.setStalled(false)
	c.since, c.active = 0, 0
	c.addr, c.seq, c.hs = netip.Addr{}, 0, handshake{}
}

func (c *connection) dropQueue() {
	for c.count > 0 {
		m := c.queue[c.head]
		c.queue[c.head] = nil
		c.head = (c.head + 1) % len(c.queue)
		c.count--
		c.sentOne(m)
		m.Unref()
	}
	c.head, c.sent = 0, 0
	invariants.Assert(c.clientSends == 0, "bus: client sends counted beyond a connection's queue")
}

// sentOne accounts for m, which left the queue (sent or dropped): on a
// client connection every message-pool buffer counted in clientSends.
func (c *connection) sentOne(m *wire.Message) {
	if c.clientSends > 0 && m.From(c.bus.pool) {
		c.clientSends--
		c.bus.clientSends--
		invariants.Assert(c.bus.clientSends >= 0, "bus: more client sends returned than queued")
	}
}

// connected starts receiving on a freshly accepted or dialled socket.
func (c *connection) connected() {
	c.state = stateConnected
	c.since, c.active = c.bus.tick, c.bus.tick
	_ = cio.SetTCPOptions(c.fd, socketOptions) // best effort: defaults only cost speed
	c.filled, c.big, c.bigFilled = 0, nil, 0
	c.startRecv()
}

// buffer returns a pool buffer for a received message: of the peers' share
// on a replica connection, of the client budget on any other (a client, or
// an accepted connection not yet identified). On nil the connection
// stalls: nothing more is received on it until resume finds a buffer.
func (c *connection) buffer() *wire.Message {
	b := c.bus
	var m *wire.Message
	if c.kind == kindReplica {
		var err error
		if m, err = b.pool.Get(); err != nil {
			b.Counters.DropNoBuffer++
			m = nil
		}
	} else {
		m = b.clientBuffer()
	}
	if m == nil {
		c.setStalled(true)
		if !c.retrying {
			b.Counters.Backpressure++
		}
	}
	return m
}

// setStalled sets stalled, keeping the bus's count of stalled connections.
func (c *connection) setStalled(v bool) {
	if c.stalled == v {
		return
	}
	c.stalled = v
	if v {
		c.bus.stalled++
	} else {
		c.bus.stalled--
	}
	invariants.Assert(c.bus.stalled >= 0 && c.bus.stalled <= len(c.bus.conns), "bus: stalled connections miscounted")
}

// resume retries a stalled connection: it delivers what its lead holds and
// receives again, or stays stalled.
func (c *connection) resume() {
	invariants.Assert(c.stalled && c.state == stateConnected && c.big == nil, "bus: resume of a connection that is not stalled between messages")
	c.setStalled(false)
	c.retrying = true
	ok := c.process()
	c.retrying = false
	if ok && !c.recvC.InFlight() {
		c.startRecv()
	}
}

// checkTimeouts closes an accepted connection that never sent a message
// within HandshakeTimeoutTicks, and a client connection without traffic
// for IdleTimeoutTicks. Replica connections have their own heartbeats.
func (c *connection) checkTimeouts() {
	b := c.bus
	switch {
	case c.kind == kindUnknown && !c.stalled && b.tick-c.since >= b.cfg.HandshakeTimeoutTicks:
		// (A stalled one has sent a message, or a large one's header,
		// and waits for the budget. A dialled one here waits for the
		// peer's side of the handshake.)
		b.Counters.TimeoutHandshake++
		c.close()
	case c.kind == kindClient && !c.stalled && c.big == nil && c.count == 0 && b.tick-c.active >= b.cfg.IdleTimeoutTicks:
		b.Counters.TimeoutIdle++
		c.close()
	}
}

// bind records who is at the other end and routes messages to them.
func (c *connection) bind(kind peerKind, replica uint8, client wire.Uint128) {
	b := c.bus
	c.kind, c.replica, c.client = kind, replica, client
	switch kind {
	case kindReplica:
		if old := b.peers[replica]; old != nil && old != c {
			old.close()
		}
		b.peers[replica] = c
		if c.dialPeer >= 0 {
			b.dials[c.dialPeer].active = false
		}
	case kindClient:
		if old := b.clients[client]; old != nil && old != c {
			// A client that reconnected: replies go to the new connection.
			old.kind = kindUnknown
			old.close()
		}
		b.clients[client] = c
	}
}

// sendHello sends a ping as the first message of a dialled connection, so
// the acceptor learns which replica dialled.
func (c *connection) sendHello() {
	m, err := c.bus.pool.Get()
	if err != nil {
		c.bus.Counters.DropNoBuffer++
		c.close()
		return
	}
	h := wire.Header{
		Cluster:   c.bus.cfg.Wire.Cluster,
		Size:      wire.HeaderSize,
		Protocol:  wire.ProtocolVersion,
		Command:   wire.CommandPing,
		Replica:   c.bus.cfg.Replica,
		Timestamp: c.bus.tick + 1,
	}
	wire.Seal(&h, m.Bytes(wire.HeaderSize))
	c.enqueue(m, len(c.queue))
	m.Unref()
}

// enqueue queues m and reports whether it did.
func (c *connection) enqueue(m *wire.Message, limit int) bool {
	if c.state != stateConnected {
		c.bus.Counters.DropNoRoute++
		return false
	}
	if c.count >= limit || c.count == len(c.queue) {
		c.bus.Counters.DropQueueFull++
		return false
	}
	c.queue[(c.head+c.count)%len(c.queue)] = m.Ref()
	c.count++
	if !c.sendC.InFlight() {
		c.startSend()
	}
	return true
}

func (c *connection) startSend() {
	m := c.queue[c.head]
	size := int(messageSize(m))
	if err := c.bus.io.Send(&c.sendC, c.fd, m.Buffer[c.sent:size]); err != nil {
		// The IO is full; Tick retries.
		return
	}
}

func onSend(comp *cio.Completion) {
	c := comp.Context.(*connection)
	if c.state != stateConnected {
		c.maybeFree()
		return
	}
	if comp.Err != nil {
		c.close()
		return
	}
	c.sent += comp.Result
	c.active = c.bus.tick
	c.bus.Counters.BytesOut += uint64(comp.Result)
	m := c.queue[c.head]
	if c.sent < int(messageSize(m)) {
		c.startSend()
		return
	}
	c.sentOne(m)
	m.Unref()
	c.queue[c.head] = nil
	c.head = (c.head + 1) % len(c.queue)
	c.count--
	c.sent = 0
	c.bus.Counters.MessagesOut++
	if c.count > 0 {
		c.startSend()
	}
}

func (c *connection) startRecv() {
	buf := c.lead[c.filled:]
	if c.big != nil {
		buf = c.big.Buffer[c.bigFilled:c.header.Size]
	}
	invariants.Assert(len(buf) > 0 && !c.stalled, "bus: receive without room, or while stalled")
	if err := c.bus.io.Recv(&c.recvC, c.fd, buf); err != nil {
		// The IO is full; Tick retries.
		return
	}
}

func onRecv(comp *cio.Completion) {
	c := comp.Context.(*connection)
	if c.state != stateConnected {
		c.maybeFree()
		return
	}
	if comp.Err != nil || comp.Result == 0 {
		c.close()
		return
	}
	c.active = c.bus.tick
	c.bus.Counters.BytesIn += uint64(comp.Result)
	if c.big != nil {
		c.bigFilled += comp.Result
		invariants.Assert(c.bigFilled <= int(c.header.Size), "bus: received past the end of a message")
		if c.bigFilled < int(c.header.Size) {
			c.startRecv()
			return
		}
		m := c.big
		c.big, c.bigFilled = nil, 0
		if !c.deliver(m) {
			return
		}
	} else {
		c.filled += comp.Result
	}
	if c.process() {
		c.startRecv()
	}
}

// process delivers every complete message in the lead buffer, and moves a
// message larger than it into a pool buffer once its header is known. It
// returns true when the caller should receive again, false when the
// connection was closed or stalled.
func (c *connection) process() bool {
	b := c.bus
	for c.filled >= wire.HeaderSize {
		if err := wire.DecodeHeader(c.lead[:wire.HeaderSize], &c.header, &b.cfg.Wire); err != nil {
			if errors.Is(err, wire.ErrCluster) {
				// The checksum verified: the id is the sender's.
				b.Counters.DropWrongCluster++
				b.wrongCluster = c.header.Cluster
			}
			b.Counters.DropInvalid++
			c.close()
			return false
		}
		size := int(c.header.Size)
		if size > len(c.lead) {
			// Received into a buffer of its own from here on, to its end.
			m := c.buffer()
			if m == nil {
				return false
			}
			c.bigFilled = copy(m.Buffer, c.lead[:c.filled])
			c.big, c.filled = m, 0
			invariants.Assert(c.bigFilled < size, "bus: a message larger than the lead buffer fitted in it")
			return true
		}
		if c.filled < size {
			return true
		}
		m := c.buffer()
		if m == nil {
			return false
		}
		copy(m.Buffer, c.lead[:size])
		c.filled = copy(c.lead, c.lead[size:c.filled])
		if !c.deliver(m) {
			return false
		}
	}
	return true
}

// deliver checks the complete message m (whose header c.header holds),
// hands it to the handler and drops the connection's reference. It
// returns false when the connection was closed.
func (c *connection) deliver(m *wire.Message) bool {
	b := c.bus
	defer m.Unref()
	size := int(c.header.Size)
	if err := wire.VerifyBody(&c.header, m.Buffer[wire.HeaderSize:size]); err != nil {
		b.Counters.DropInvalid++
		c.close()
		return false
	}
	if c.header.Command == wire.CommandPeerAuth {
		c.onAuth(&c.header, m.Buffer[wire.HeaderSize:size])
		return c.state == stateConnected
	}
	if b.auth != nil && c.kind == kindUnknown && c.dialPeer < 0 && c.header.Command == wire.CommandPing {
		c.authFailed("a replica said hello without authenticating (it has no cluster key)")
		return false
	}
	if c.kind == kindUnknown && c.header.Command == wire.CommandRequest &&
		b.clients[c.header.Client] == nil && len(b.clients) >= b.cfg.Limits.Connections() {
		// Connections() other clients are bound: this connection holds a
		// slot kept for a peer that is away. Refuse it as a connection
		// without a slot, so the peer finds its slot when it reconnects.
		b.Counters.DropNoSlot++
		b.refuse(c.fd, false)
		c.close()
		return false
	}
	if !c.admit(&c.header) {
		b.Counters.DropWrongSender++
		c.close()
		return false
	}
	b.Counters.MessagesIn++
	if b.handler != nil {
		b.handler.OnMessage(m, &c.header)
	}
	return c.state == stateConnected
}

// admit checks a message against what the connection is, binding an
// unknown connection to its sender on the first message.
func (c *connection) admit(h *wire.Header) bool {
	b := c.bus
	isRequest := h.Command == wire.CommandRequest
	switch c.kind {
	case kindUnknown:
		if c.dialPeer >= 0 || c.hs.step != 0 {
			// Only peer_auth (handled before) during a handshake.
			return false
		}
		if isRequest {
			c.bind(kindClient, 0, h.Client)
			return true
		}
		if h.Command != wire.CommandPing || h.Replica == b.cfg.Replica {
			return false
		}
		c.bind(kindReplica, h.Replica, wire.Uint128{})
		return true
	case kindClient:
		return isRequest && h.Client == c.client
	case kindReplica:
		// Prepares keep their original sender (the primary that made them)
		// when a backup forwards them for repair, so only other commands
		// must name this peer.
		return !isRequest && (h.Command == wire.CommandPrepare || h.Replica == c.replica)
	}
	return false
}

// close unbinds the connection, drops its queue and closes the socket; the
// slot is freed once every operation on it completed.
func (c *connection) close() {
	if c.state == stateFree || c.state == stateClosing {
		return
	}
	b := c.bus
	if c.state == stateConnecting {
		c.state = stateClosing
		_ = b.io.Cancel(&c.connectC)
		return
	}
	c.state = stateClosing
	b.Counters.Closed++
	switch c.kind {
	case kindReplica:
		if b.peers[c.replica] == c {
			b.peers[c.replica] = nil
			if c.dialPeer >= 0 && !b.closed {
				b.dialFailed(uint8(c.dialPeer))
			}
		}
	case kindUnknown:
		if c.dialPeer >= 0 && !b.closed {
			// A dialled connection closed during the handshake.
			b.dialFailed(uint8(c.dialPeer))
		}
	case kindClient:
		if b.clients[c.client] == c {
			delete(b.clients, c.client)
		}
	}
	c.dropQueue()
	if err := b.io.CloseFd(&c.closeC, c.fd); err != nil {
		// The IO is full or closed: cancel what is in flight and close
		// synchronously.
		_ = b.io.Cancel(&c.recvC)
		_ = b.io.Cancel(&c.sendC)
		_ = cio.CloseSocket(c.fd)
		c.fd = -1
		c.maybeFree()
	}
}

func onClosed(comp *cio.Completion) {
	c := comp.Context.(*connection)
	c.fd = -1
	c.maybeFree()
}

// maybeFree frees a closing slot once nothing is in flight on it.
func (c *connection) maybeFree() {
	if c.state != stateClosing && c.state != stateConnecting {
		return
	}
	if c.connectC.InFlight() || c.recvC.InFlight() || c.sendC.InFlight() || c.closeC.InFlight() {
		return
	}
	if c.fd >= 0 {
		_ = cio.CloseSocket(c.fd)
	}
	c.reset()
}

// sendAuthHello starts the peer handshake on a dialled connection: step 1
// offers the ids of every key this replica holds, current first, and the
// dialler's nonce.
func (c *connection) sendAuthHello() {
	keys := c.bus.auth
	invariants.Assert(keys != nil && c.dialPeer >= 0 && c.kind == kindUnknown, "bus: peer handshake started without keys or on an accepted connection")
	freshNonce(&c.hs.dialerNonce)
	c.hs.step = authHello
	a := peerAuth{step: authHello, keyCount: uint8(len(keys.ids)), nonce: c.hs.dialerNonce}
	copy(a.keyIDs[:], keys.ids)
	c.sendAuth(&a)
}

// onAuth takes one step of the peer handshake: h and body are a verified
// peer_auth message received on c. Anything out of place closes the
// connection as an authentication failure.
func (c *connection) onAuth(h *wire.Header, body []byte) {
	b := c.bus
	var a peerAuth
	switch {
	case b.auth == nil:
		c.authFailed("a replica offered authentication, and this replica has no cluster key")
		return
	case c.kind != kindUnknown:
		c.authFailed("peer_auth on a connection already bound")
		return
	case h.View != 0:
		c.authFailed("peer_auth with a non-zero view")
		return
	}
	if err := decodePeerAuth(body, &a); err != nil {
		c.authFailed(err.Error())
		return
	}
	keys := b.auth
	if c.dialPeer >= 0 {
		// The dialler: the acceptor's challenge.
		if c.hs.step != authHello || a.step != authChallenge {
			c.authFailed("unexpected handshake step from the replica dialled")
			return
		}
		if h.Replica != uint8(c.dialPeer) {
			c.authFailed("the replica dialled answered with another index")
			return
		}
		k := keys.find(a.keyIDs[0])
		if k < 0 {
			c.authFailed("the replica dialled chose a key this replica did not offer")
			return
		}
		want := keys.mac(k, authChallenge, b.cfg.Wire.Cluster, b.cfg.Replica, h.Replica, &c.hs.dialerNonce, &a.nonce)
		if !hmac.Equal(want[:], a.mac[:]) {
			c.authFailed("the replica dialled failed to prove it holds the cluster key")
			return
		}
		proof := peerAuth{step: authProof, mac: keys.mac(k, authProof, b.cfg.Wire.Cluster, b.cfg.Replica, h.Replica, &c.hs.dialerNonce, &a.nonce)}
		c.sendAuth(&proof)
		c.hs = handshake{}
		c.bind(kindReplica, uint8(c.dialPeer), wire.Uint128{})
		c.sendHello()
		return
	}
	switch {
	case c.hs.step == 0 && a.step == authHello:
		// The acceptor: a dialler's hello. Replica i dials only j < i.
		if h.Replica <= b.cfg.Replica {
			c.authFailed("a replica dialled a replica of a higher index (or itself)")
			return
		}
		k := -1
		for i := 0; i < int(a.keyCount) && k < 0; i++ {
			k = keys.find(a.keyIDs[i])
		}
		if k < 0 {
			c.authFailed("the dialling replica holds no key this replica holds")
			return
		}
		c.hs.step, c.hs.replica, c.hs.key, c.hs.dialerNonce = authChallenge, h.Replica, k, a.nonce
		freshNonce(&c.hs.acceptorNonce)
		challenge := peerAuth{step: authChallenge, keyCount: 1, nonce: c.hs.acceptorNonce,
			mac: keys.mac(k, authChallenge, b.cfg.Wire.Cluster, h.Replica, b.cfg.Replica, &c.hs.dialerNonce, &c.hs.acceptorNonce)}
		challenge.keyIDs[0] = keys.ids[k]
		c.sendAuth(&challenge)
	case c.hs.step == authChallenge && a.step == authProof:
		if h.Replica != c.hs.replica {
			c.authFailed("the dialling replica's proof names another index")
			return
		}
		want := keys.mac(c.hs.key, authProof, b.cfg.Wire.Cluster, c.hs.replica, b.cfg.Replica, &c.hs.dialerNonce, &c.hs.acceptorNonce)
		if !hmac.Equal(want[:], a.mac[:]) {
			c.authFailed("the dialling replica failed to prove it holds the cluster key")
			return
		}
		replica := c.hs.replica
		c.hs = handshake{}
		c.bind(kindReplica, replica, wire.Uint128{})
	default:
		c.authFailed("unexpected handshake step from a dialling replica")
	}
}

// sendAuth queues one peer_auth message with body a.
func (c *connection) sendAuth(a *peerAuth) {
	b := c.bus
	m, err := b.pool.Get()
	if err != nil {
		b.Counters.DropNoBuffer++
		c.close()
		return
	}
	h := wire.Header{
		Cluster:  b.cfg.Wire.Cluster,
		Size:     wire.HeaderSize + wire.PeerAuthBodySize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandPeerAuth,
		Replica:  b.cfg.Replica,
	}
	a.encode(m.Buffer[wire.HeaderSize:h.Size])
	wire.Seal(&h, m.Bytes(h.Size))
	c.enqueue(m, len(c.queue))
	m.Unref()
}

// authFailed closes a connection that failed the peer handshake, counted
// (Counters.AuthFailed) and logged at most once per LogIntervalTicks with
// the reason.
func (c *connection) authFailed(reason string) {
	c.bus.Counters.AuthFailed++
	c.bus.authReason = reason
	c.close()
}
