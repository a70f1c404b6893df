package bus

import (
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

	connectC cio.Completion
	recvC    cio.Completion
	sendC    cio.Completion
	closeC   cio.Completion

	// recvMsg receives the stream; filled bytes of it are valid.
	recvMsg *wire.Message
	filled  int
	header  wire.Header

	// queue is a ring of messages to send; sent bytes of the first are out.
	queue []*wire.Message
	head  int
	count int
	sent  int
}

func (c *connection) init(b *Bus) {
	c.bus = b
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
	if c.recvMsg != nil {
		c.recvMsg.Unref()
	}
	c.dropQueue()
	c.state, c.fd, c.dialPeer, c.kind = stateFree, -1, -1, kindUnknown
	c.replica, c.client = 0, wire.Uint128{}
	c.recvMsg, c.filled, c.sent = nil, 0, 0
}

func (c *connection) dropQueue() {
	for c.count > 0 {
		c.queue[c.head].Unref()
		c.queue[c.head] = nil
		c.head = (c.head + 1) % len(c.queue)
		c.count--
	}
	c.head, c.sent = 0, 0
}

// connected starts receiving on a freshly accepted or dialled socket.
func (c *connection) connected() {
	c.state = stateConnected
	_ = cio.SetTCPOptions(c.fd, socketOptions) // best effort: defaults only cost speed
	m, err := c.bus.pool.Get()
	if err != nil {
		c.bus.Counters.DropNoBuffer++
		c.close()
		return
	}
	c.recvMsg, c.filled = m, 0
	c.startRecv()
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

func (c *connection) enqueue(m *wire.Message, limit int) {
	if c.state != stateConnected {
		c.bus.Counters.DropNoRoute++
		return
	}
	if c.count >= limit || c.count == len(c.queue) {
		c.bus.Counters.DropQueueFull++
		return
	}
	c.queue[(c.head+c.count)%len(c.queue)] = m.Ref()
	c.count++
	if !c.sendC.InFlight() {
		c.startSend()
	}
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
	c.bus.Counters.BytesOut += uint64(comp.Result)
	m := c.queue[c.head]
	if c.sent < int(messageSize(m)) {
		c.startSend()
		return
	}
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
	if err := c.bus.io.Recv(&c.recvC, c.fd, c.recvMsg.Buffer[c.filled:]); err != nil {
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
	c.filled += comp.Result
	c.bus.Counters.BytesIn += uint64(comp.Result)
	if !c.deliver() {
		return
	}
	c.startRecv()
}

// deliver hands every complete message in the receive buffer to the
// handler. It returns false when the connection was closed.
func (c *connection) deliver() bool {
	b := c.bus
	for c.filled >= wire.HeaderSize {
		m := c.recvMsg
		if err := wire.DecodeHeader(m.Buffer[:wire.HeaderSize], &c.header, &b.cfg.Wire); err != nil {
			b.Counters.DropInvalid++
			c.close()
			return false
		}
		size := int(c.header.Size)
		if c.filled < size {
			return true
		}
		if err := wire.VerifyBody(&c.header, m.Buffer[wire.HeaderSize:size]); err != nil {
			b.Counters.DropInvalid++
			c.close()
			return false
		}
		if c.kind == kindUnknown && c.header.Command == wire.CommandRequest &&
			b.clients[c.header.Client] == nil && len(b.clients) >= b.cfg.Limits.ClientsMax {
			// ClientsMax other clients are bound: this connection holds a
			// slot kept for a peer that is away. Refuse it as a connection
			// without a slot, so the peer finds its slot when it
			// reconnects.
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
		if c.state != stateConnected {
			return false
		}
		// Keep the bytes after this message; take a fresh buffer if the
		// handler kept a reference to this one.
		rest := c.filled - size
		if m.Refs() == 1 {
			copy(m.Buffer, m.Buffer[size:c.filled])
		} else {
			next, err := b.pool.Get()
			if err != nil {
				b.Counters.DropNoBuffer++
				c.close()
				return false
			}
			copy(next.Buffer, m.Buffer[size:c.filled])
			m.Unref()
			c.recvMsg = next
		}
		c.filled = rest
	}
	return true
}

// admit checks a message against what the connection is, binding an
// unknown connection to its sender on the first message.
func (c *connection) admit(h *wire.Header) bool {
	b := c.bus
	isRequest := h.Command == wire.CommandRequest
	switch c.kind {
	case kindUnknown:
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
