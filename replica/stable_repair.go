package replica

import (
	"errors"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Grid repair of a stable prefix. A GridBacked machine reads back the
// bytes it dropped from memory from this replica's grid; when a block
// there fails its checksum (statemachine.StableReadError), every peer
// holds the same bytes in its own stable prefix (the stable prefix is a
// function of the committed log). The replica asks the peers in turn,
// once a tick while its commit waits (request_stable), and passes the
// answer (stable) to the machine's store, which writes it after checking
// it against the block's checksum; the next tick's prefetch then reads it.

// scrub verifies the next unit of the omitted stable bytes, every
// ScrubTicks ticks; a damaged one is asked of a peer and verified again
// until it reads back.
func (r *Replica) scrub() {
	if r.grid == nil {
		return
	}
	every := r.cfg.ScrubTicks
	if every == 0 {
		every = scrubTicksDefault
	}
	if r.tick%every != 0 {
		return
	}
	next, err := r.grid.ScrubStable(r.scrubNext)
	if err != nil {
		r.Counters.ScrubDamaged++
		r.requestStable(err)
		return
	}
	invariants.Assert(next >= 0, "replica: scrubber moved to a negative offset")
	if next == 0 && r.grid.StableOmitted() > 0 {
		r.Counters.ScrubCycles++
	}
	r.scrubNext = next
}

// stableBodyMax is the most stable bytes one message carries.
func (r *Replica) stableBodyMax() int { return int(r.cfg.Limits.MessageSizeMax) - wire.HeaderSize }

// scrubTicksDefault is Config.ScrubTicks' default.
const scrubTicksDefault = 10

// ScrubCycles returns how many passes over the omitted stable bytes the
// scrubber completed, and how many bytes are omitted (0: nothing to
// scrub).
func (r *Replica) ScrubCycles() (cycles uint64, omitted int) {
	if r.grid != nil {
		omitted = r.grid.StableOmitted()
	}
	return r.Counters.ScrubCycles, omitted
}

// requestStable asks the next peer for the stable bytes a failed read
// names.
func (r *Replica) requestStable(err error) {
	var sre *statemachine.StableReadError
	if r.grid == nil || r.cfg.ReplicaCount < 2 || !errors.As(err, &sre) {
		return
	}
	n := sre.To - sre.From
	if n <= 0 || n > r.stableBodyMax() {
		r.Counters.StableRepairImpossible++ // a unit beyond a message: not repairable by peers
		return
	}
	r.stablePeer = (r.stablePeer + 1) % r.cfg.ReplicaCount
	if r.stablePeer == r.cfg.Replica {
		r.stablePeer = (r.stablePeer + 1) % r.cfg.ReplicaCount
	}
	invariants.Assert(r.stablePeer != r.cfg.Replica, "replica: stable bytes asked of itself")
	h := r.header(wire.CommandRequestStable)
	h.OpMin, h.Commit = uint64(sre.From), uint64(n)
	r.sendHeaderOnly(r.stablePeer, &h)
	r.Counters.StableRequested++
}

// onRequestStable serves stable bytes to a peer repairing its grid.
func (r *Replica) onRequestStable(h *wire.Header) {
	if r.grid == nil || h.Replica == r.cfg.Replica || h.Commit > uint64(r.stableBodyMax()) {
		r.Counters.DropUnexpected++
		return
	}
	_, size := r.grid.SnapshotStable()
	if h.OpMin > uint64(size) || h.Commit > uint64(size)-h.OpMin {
		r.Counters.DropUnexpected++ // this replica is behind: another one answers
		return
	}
	b, err := r.grid.ReadSnapshotRange(r.stableBuf[:0], int(h.OpMin), int(h.OpMin+h.Commit))
	if err != nil {
		// Damaged here too: repair it from another peer.
		r.Counters.SyncChunkUnreadable++
		r.requestStable(err)
		return
	}
	invariants.Assert(uint64(len(b)) == h.Commit, "replica: stable bytes read to another length")
	out := r.header(wire.CommandStable)
	out.OpMin, out.Commit = h.OpMin, h.Commit
	out.Size = uint32(wire.HeaderSize + len(b))
	r.sendWithBody(h.Replica, &out, b)
	r.Counters.StableServed++
}

// onStable takes a peer's stable bytes: the machine's store writes them
// when they are the bytes its damaged block should hold.
func (r *Replica) onStable(h *wire.Header, body []byte) {
	if r.grid == nil || h.Replica == r.cfg.Replica || uint64(len(body)) != h.Commit {
		r.Counters.DropUnexpected++
		return
	}
	if err := r.grid.RepairStable(int(h.OpMin), body); err != nil {
		r.Counters.StableRepairRefused++
		return
	}
	r.Counters.StableRepaired++
	invariants.Assert(r.Counters.StableRepaired > 0, "replica: repair not counted")
}
