package sim

import (
	"github.com/chronon-db/chronon/wire"
)

// client is a deterministic simulated client speaking the wire protocol:
// it registers, keeps one request in flight, resends the same request
// bytes on a timeout (to the primary it knows, then to every replica),
// and registers again under a new id when it is evicted or restarted.
type client struct {
	sim   *Sim
	index int
	gen   uint64
	id    wire.Uint128

	session   uint64
	request   uint32
	lastReply wire.Uint128
	view      uint32

	pending  []byte
	header   wire.Header // of pending
	sentAt   uint64
	attempts int
	nextAt   uint64
	// op is the history entry of the pending request (-1: none).
	op int
	// budget is how many more requests to start (-1: unlimited).
	budget int

	state clientWorkload
}

// clientWorkload is a workload's per-client state.
type clientWorkload interface {
	// next builds the next request body; input is its history entry.
	next(c *client) (operation wire.Operation, body []byte, input any)
	// reply audits a reply body and returns the history output.
	reply(c *client, input any, body []byte) (output any, err error)
	// abandon marks the pending request's outcome unknown.
	abandon(c *client, input any)
}

func clientID(index int, gen uint64) wire.Uint128 {
	return wire.Uint128{Lo: uint64(index+1)<<32 | gen, Hi: 0xC11E}
}

// idle reports whether the client has nothing in flight and nothing more
// to send.
func (c *client) idle() bool { return c.pending == nil && c.budget == 0 && c.session != 0 }

// tick sends a new request or resends the pending one.
func (c *client) tick() {
	s := c.sim
	if c.pending != nil {
		if s.now-c.sentAt >= s.sc.clientRetryTicks {
			c.sentAt = s.now
			c.attempts++
			s.stats.Retries++
			c.send()
		}
		return
	}
	if s.now < c.nextAt {
		return
	}
	h := wire.Header{
		Cluster:  s.cluster,
		Size:     wire.HeaderSize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandRequest,
		Client:   c.id,
		View:     c.view,
	}
	var body []byte
	c.op = -1
	if c.session == 0 {
		h.Operation = wire.OperationRegister
	} else {
		if c.budget == 0 {
			return
		}
		if c.budget > 0 {
			c.budget--
		}
		op, b, input := c.state.next(c)
		c.request++
		h.Operation, h.Session, h.Request, h.Parent = op, c.session, c.request, c.lastReply
		body = b
		h.Size += uint32(len(body))
		c.op = s.history.call(c, input)
	}
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	c.pending, c.header, c.sentAt, c.attempts = msg, h, s.now, 0
	s.stats.Requests++
	c.send()
}

func (c *client) send() {
	s := c.sim
	n := s.sc.Replicas
	if c.attempts < 2 {
		s.net.send(clientBase+c.index, int(c.view%uint32(n)), c.pending)
		return
	}
	for r := 0; r < n; r++ {
		s.net.send(clientBase+c.index, r, c.pending)
	}
}

// onMessage handles bytes from the network addressed to this client.
func (c *client) onMessage(data []byte) error {
	s := c.sim
	var h wire.Header
	if err := wire.DecodeHeader(data, &h, &s.wcfg); err != nil {
		return violation(InvariantWorkload, "client got an invalid header: %v", err)
	}
	if err := wire.VerifyBody(&h, data[wire.HeaderSize:h.Size]); err != nil {
		return violation(InvariantWorkload, "client got an invalid body: %v", err)
	}
	if h.Client != c.id {
		return nil // for an earlier incarnation of this client
	}
	switch h.Command {
	case wire.CommandEviction:
		s.stats.Evictions++
		if wire.EvictionReason(h.Reason) == wire.EvictionReplyDropped {
			s.stats.RepliesDropped++
		}
		s.trace.logf("client %d (%x) evicted, reason %d", c.index, c.id.Lo, h.Reason)
		c.restart()
		return nil
	case wire.CommandRedirect:
		// A replica that is not the primary named a newer view: the
		// request goes to its primary now (docs/protocol.md, "Redirect").
		if h.View > c.view {
			c.view = h.View
			if c.pending != nil && h.Context == c.header.Checksum {
				s.stats.Redirects++
				s.net.send(clientBase+c.index, int(c.view%uint32(s.sc.Replicas)), c.pending)
			}
		}
		return nil
	case wire.CommandReply:
	default:
		return nil
	}
	if c.pending == nil || h.Context != c.header.Checksum {
		return nil // a duplicate reply to an earlier request
	}
	if err := s.replies.check(&h, c.header.Checksum); err != nil {
		return err
	}
	c.view = max(c.view, h.View)
	s.stats.Replies++
	if h.Size > wire.LimitsTest.ReplySlotSize {
		s.stats.LargeReplies++
	}
	if c.header.Operation == wire.OperationRegister {
		c.session = h.Session
	} else {
		out, err := c.state.reply(c, s.history.input(c.op), data[wire.HeaderSize:h.Size])
		if err != nil {
			return err
		}
		s.history.ret(c.op, out)
	}
	c.lastReply = h.Checksum
	c.pending, c.op = nil, -1
	if s.sc.thinkTicksMax > 0 {
		c.nextAt = s.now + s.rng.Uint64N(s.sc.thinkTicksMax+1)
	}
	return nil
}

// restart abandons the session (an eviction, or the client process
// restarting) and starts over as a new client.
func (c *client) restart() {
	s := c.sim
	if c.op >= 0 {
		c.state.abandon(c, s.history.input(c.op))
		s.history.abandon(c.op)
	}
	s.net.dropEndpoint(clientBase + c.index)
	c.gen++
	c.id = clientID(c.index, c.gen)
	c.session, c.request, c.lastReply, c.pending, c.op = 0, 0, wire.Uint128{}, nil, -1
}
