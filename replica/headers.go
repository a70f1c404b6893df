package replica

import (
	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// headerRing keeps the headers of the last len(h) ops by op: the replica's
// recent log, sent in do_view_change and start_view, and (as the canonical
// ring) the headers a view change decided on.
type headerRing struct {
	h []wire.Header
}

func newHeaderRing(capacity int) headerRing {
	invariants.Assert(capacity >= 4, "replica: header ring smaller than two pipelines")
	return headerRing{h: make([]wire.Header, capacity)}
}

func (r *headerRing) put(h *wire.Header) {
	invariants.Assert(h.Command == wire.CommandPrepare, "replica: header ring put of something else than a prepare header")
	invariants.Assert(!h.Checksum.IsZero(), "replica: header ring put of an unsealed header")
	r.h[h.Op%uint64(len(r.h))] = *h
}

// get returns the header of op if the ring holds it.
func (r *headerRing) get(op uint64) (*wire.Header, bool) {
	h := &r.h[op%uint64(len(r.h))]
	if h.Op != op || h.Command != wire.CommandPrepare {
		return nil, false
	}
	invariants.Assert(!h.Checksum.IsZero(), "replica: header ring holds an unsealed header")
	return h, true
}

// forget drops every header above op.
func (r *headerRing) forget(above uint64) {
	for i := range r.h {
		if r.h[i].Op > above {
			r.h[i] = wire.Header{}
		}
		invariants.Assert(r.h[i].Op <= above, "replica: header ring keeps an op above the one it forgets after")
	}
	if invariants.Enabled {
		if h, ok := r.get(0); ok {
			invariants.Assert(h.Operation == wire.OperationRoot, "replica: header ring holds something else than the root at op 0")
		}
	}
}

// reset drops every header, the root's included.
func (r *headerRing) reset() {
	clear(r.h)
	invariants.Assert(len(r.h) > 0, "replica: header ring without slots")
}

// encode appends the headers of the contiguous, hash-chained run of ops
// ending at op (at most max of them, oldest first) to dst: a receiver
// rejects a run that does not chain, so a stale entry ends the run.
func (r *headerRing) encode(dst []byte, op uint64, max int) []byte {
	first := op + 1
	for first > 1 && int(op-first+1) < max {
		prev, ok := r.get(first - 1)
		if !ok {
			break
		}
		if first <= op {
			if next, _ := r.get(first); next.Parent != prev.Checksum {
				break
			}
		}
		first--
	}
	invariants.Assert(max > 0 && first > 0 && first <= op+1, "replica: encoded header run out of range")
	invariants.Assert(int(op+1-first) <= max, "replica: encoded header run longer than asked")
	start := len(dst)
	for o := first; o <= op; o++ {
		h, ok := r.get(o)
		invariants.Assert(ok, "replica: encoded header run has a hole")
		var b [wire.HeaderSize]byte
		h.Encode(b[:])
		dst = append(dst, b[:]...)
	}
	invariants.Assert(len(dst)-start == int(op+1-first)*wire.HeaderSize, "replica: encoded header run of another length")
	return dst
}

// decodeHeaders parses a do_view_change or start_view body: prepare headers
// with ascending, contiguous ops that chain by parent checksum, the last
// one being op. It returns false for anything else (a body from a faulty
// peer is dropped, never trusted).
func decodeHeaders(body []byte, op uint64, cfg *wire.Config, out []wire.Header) ([]wire.Header, bool) {
	out = out[:0]
	if len(body)%wire.HeaderSize != 0 || len(body)/wire.HeaderSize > cap(out) {
		return out, false
	}
	for off := 0; off < len(body); off += wire.HeaderSize {
		var h wire.Header
		if err := wire.DecodeHeader(body[off:off+wire.HeaderSize], &h, cfg); err != nil || h.Command != wire.CommandPrepare {
			return out, false
		}
		if n := len(out); n > 0 && (h.Op != out[n-1].Op+1 || h.Parent != out[n-1].Checksum) {
			return out, false
		}
		out = append(out, h)
	}
	if len(out) > 0 && out[len(out)-1].Op != op {
		return out, false
	}
	invariants.Assert(len(out)*wire.HeaderSize == len(body), "replica: decoded headers do not cover the body")
	invariants.Assert(len(out) == 0 || out[len(out)-1].Op-out[0].Op == uint64(len(out)-1), "replica: decoded headers not contiguous")
	return out, true
}

// putLog records h as the canonical header of its op.
func (r *Replica) putLog(h *wire.Header) {
	invariants.Assert(h.Op > 0, "replica: the root header put in the log again")
	r.log.put(h)
	if h.Op > r.logOp {
		r.logOp = h.Op
	}
	invariants.Assert(r.logOp >= h.Op && r.logOp >= r.op, "replica: log head below a header it holds")
}

// canonical reports whether h is the op the log names at its position.
func (r *Replica) canonical(h *wire.Header) bool {
	invariants.Assert(h.Command == wire.CommandPrepare, "replica: canonical asked about something else than a prepare")
	c, ok := r.log.get(h.Op)
	invariants.Assert(!ok || c.Checksum != h.Checksum || c.Parent == h.Parent, "replica: same checksum, another parent")
	return ok && c.Checksum == h.Checksum
}
