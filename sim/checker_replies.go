package sim

import "github.com/chronon-db/chronon/wire"

// ack is a reply a client accepted.
type ack struct {
	op      uint64
	request wire.Uint128 // checksum of the request
	client  wire.Uint128
	number  uint32
}

// replyChecker checks every reply a client accepts against the committed
// log, and that a request always gets the same reply bytes.
type replyChecker struct {
	chain   *chainChecker
	replies map[wire.Uint128]wire.Uint128 // request checksum -> reply checksum
	acks    []ack
}

func newReplyChecker(chain *chainChecker) *replyChecker {
	return &replyChecker{chain: chain, replies: map[wire.Uint128]wire.Uint128{}}
}

// check validates one reply header h for the request with checksum req.
func (c *replyChecker) check(h *wire.Header, req wire.Uint128) error {
	if prev, ok := c.replies[req]; ok && prev != h.Checksum {
		return violation(InvariantReply, "request %x got two different replies (%x, %x)", req.Lo, prev.Lo, h.Checksum.Lo)
	}
	c.replies[req] = h.Checksum
	sum, ok := c.chain.at(h.Op)
	if !ok {
		return violation(InvariantReply, "reply to request %x names op %d, which no replica committed", req.Lo, h.Op)
	}
	if !c.inPrepare(sum, req) {
		return violation(InvariantReply, "reply to request %x names op %d, whose committed prepare %x does not hold that request", req.Lo, h.Op, sum.Lo)
	}
	c.acks = append(c.acks, ack{op: h.Op, request: req, client: h.Client, number: h.Request})
	return nil
}

func (c *replyChecker) inPrepare(sum, req wire.Uint128) bool {
	p, ok := c.chain.prepares[sum]
	if !ok {
		return false
	}
	for _, r := range p.requests {
		if r.checksum == req {
			return true
		}
	}
	return false
}

// checkAcked verifies that every acknowledged request is still in the
// committed log at its op (committed history never changes, so this holds
// unless the chain checker was bypassed) and that replica commits cover it.
func (c *replyChecker) checkAcked() error {
	for _, a := range c.acks {
		sum, ok := c.chain.at(a.op)
		if !ok || !c.inPrepare(sum, a.request) {
			return violation(InvariantAckedLost, "acknowledged request %x of client %x (number %d) is no longer committed at op %d", a.request.Lo, a.client.Lo, a.number, a.op)
		}
	}
	return nil
}

// maxAckedOp is the highest op a client got a reply for.
func (c *replyChecker) maxAckedOp() uint64 {
	m := uint64(0)
	for _, a := range c.acks {
		m = max(m, a.op)
	}
	return m
}
