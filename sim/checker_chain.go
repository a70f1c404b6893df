package sim

import (
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// Invariant names, as failures report them.
const (
	InvariantHashChain    = "hash_chain"     // committed ops form one hash chain
	InvariantReply        = "reply"          // replies match the committed log
	InvariantLinearizable = "linearizable"   // client histories are linearizable
	InvariantExactlyOnce  = "exactly_once"   // effects applied once
	InvariantAckedLost    = "acked_lost"     // acknowledged requests stay committed
	InvariantLiveness     = "liveness"       // the cluster commits and converges after faults heal
	InvariantRestart      = "restart"        // a replica restarts from its data file
	InvariantWorkload     = "workload_audit" // replies decode and make sense
)

// Violation is a broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v *Violation) Error() string { return v.Invariant + ": " + v.Detail }

func violation(inv, format string, args ...any) *Violation {
	return &Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)}
}

// requestInfo identifies one client request inside a prepare.
type requestInfo struct {
	checksum  wire.Uint128
	client    wire.Uint128
	request   uint32
	operation wire.Operation
}

// prepareInfo is what the checkers keep of every prepare any replica
// journaled.
type prepareInfo struct {
	op       uint64
	parent   wire.Uint128
	requests []requestInfo
}

// chainChecker keeps the one committed history: for every op the checksum
// of the prepare committed there. Every replica's commit progress must
// extend it.
type chainChecker struct {
	prepares  map[wire.Uint128]*prepareInfo
	committed []wire.Uint128 // by op; zero: not known yet
	root      wire.Uint128
}

func newChainChecker(cluster wire.Uint128) *chainChecker {
	root := wire.RootPrepare(cluster)
	return &chainChecker{prepares: map[wire.Uint128]*prepareInfo{}, committed: []wire.Uint128{root.Checksum}, root: root.Checksum}
}

// recordPrepare remembers a sealed prepare's chain link and its requests.
func (c *chainChecker) recordPrepare(data []byte) {
	var h wire.Header
	h.Decode(data)
	if _, ok := c.prepares[h.Checksum]; ok {
		return
	}
	p := &prepareInfo{op: h.Op, parent: h.Parent}
	body := data[wire.HeaderSize:h.Size]
	for len(body) >= wire.HeaderSize {
		var r wire.Header
		r.Decode(body)
		if r.Size < wire.HeaderSize || int(r.Size) > len(body) {
			break
		}
		p.requests = append(p.requests, requestInfo{checksum: r.Checksum, client: r.Client, request: r.Request, operation: r.Operation})
		body = body[r.Size:]
	}
	c.prepares[h.Checksum] = p
}

// commit records that some replica committed op with the given checksum,
// and every op before it along the parent links. It fails when any of them
// differs from what another replica committed there.
func (c *chainChecker) commit(replica int, op uint64, sum wire.Uint128) error {
	for op > 0 {
		if op < uint64(len(c.committed)) && !c.committed[op].IsZero() {
			if c.committed[op] != sum {
				return violation(InvariantHashChain, "replica %d committed op %d with checksum %x, the cluster committed %x there",
					replica, op, sum.Lo, c.committed[op].Lo)
			}
			return nil
		}
		for uint64(len(c.committed)) <= op {
			c.committed = append(c.committed, wire.Uint128{})
		}
		c.committed[op] = sum
		p, ok := c.prepares[sum]
		if !ok {
			return nil // journaled before the simulator saw it: cannot happen, keep going safely
		}
		if p.op != op {
			return violation(InvariantHashChain, "replica %d committed checksum %x as op %d, but that prepare is op %d", replica, sum.Lo, op, p.op)
		}
		op, sum = op-1, p.parent
	}
	if sum != c.root {
		return violation(InvariantHashChain, "replica %d's committed chain does not start at the root prepare", replica)
	}
	return nil
}

// at returns the checksum committed at op, if known.
func (c *chainChecker) at(op uint64) (wire.Uint128, bool) {
	if op >= uint64(len(c.committed)) || c.committed[op].IsZero() {
		return wire.Uint128{}, false
	}
	return c.committed[op], true
}

// highest returns the highest committed op known.
func (c *chainChecker) highest() uint64 { return uint64(len(c.committed) - 1) }
