package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/chronon-db/chronon/wire"
)

// packet is a message in flight, copied as bytes at send time (as TCP
// would). Endpoints are replicas (0..n-1) or clients (clientBase+i).
type packet struct {
	due, seq uint64
	from, to int
	data     []byte
	// corrupt: a bit of data was flipped in flight; the receiver's
	// checksum validation must drop it.
	corrupt bool
	// orphan: the sender crashed after sending it (it is delivered
	// anyway, as a real network would).
	orphan bool
	// rogue: a hostile frame from the rogue endpoint (rogue.go).
	rogue bool
}

// clientBase numbers client endpoints after every possible replica.
const clientBase = 1 << 8

// network is the simulated network: per-message latency drawn from
// [latencyMin, latencyMax] (which reorders), loss, duplication, and
// partitions given as a matrix of cut directed replica links.
type network struct {
	s       *scenario
	rng     *rand.Rand
	stats   *Stats
	now     *uint64
	seq     uint64
	packets []packet
	// cut[a][b]: messages from replica a to replica b are dropped.
	cut [][]bool
	// faulty disables loss and duplication (false in the liveness phase).
	faulty bool
	// rogue, when set, captures frames to mutate (rogue.go).
	rogue *rogue
}

func newNetwork(s *scenario, rng *rand.Rand, stats *Stats, now *uint64) *network {
	n := &network{s: s, rng: rng, stats: stats, now: now, faulty: true}
	n.cut = make([][]bool, s.Replicas)
	for i := range n.cut {
		n.cut[i] = make([]bool, s.Replicas)
	}
	return n
}

// send queues a copy of data from one endpoint to another.
func (n *network) send(from, to int, data []byte) {
	if from < clientBase && to < clientBase && n.cut[from][to] {
		return
	}
	if n.rogue != nil {
		n.rogue.capture(data)
	}
	copies := 1
	if n.faulty {
		if n.s.lossPct > 0 && n.rng.Float64() < n.s.lossPct {
			n.stats.Faults[FaultLoss]++
			return
		}
		if n.s.dupPct > 0 && n.rng.Float64() < n.s.dupPct {
			n.stats.Faults[FaultDuplicate]++
			copies = 2
		}
	}
	for c := 0; c < copies; c++ {
		n.seq++
		lat := n.s.latencyMin + n.rng.Uint64N(n.s.latencyMax-n.s.latencyMin+1)
		buf := make([]byte, len(data))
		copy(buf, data)
		p := packet{due: *n.now + lat, seq: n.seq, from: from, to: to, data: buf}
		if n.faulty && n.s.corruptMsgPct > 0 && n.rng.Float64() < n.s.corruptMsgPct {
			// One bit of the header or the body flips on the wire.
			bit := n.rng.IntN(len(buf) * 8)
			buf[bit/8] ^= 1 << (bit % 8)
			p.corrupt = true
			n.stats.Faults[FaultCorruptMessage]++
		}
		n.packets = append(n.packets, p)
	}
}

// due removes and returns the packets due now, in (due, seq) order.
func (n *network) due(dst []packet) []packet {
	keep := n.packets[:0]
	for _, p := range n.packets {
		if p.due <= *n.now {
			dst = append(dst, p)
		} else {
			keep = append(keep, p)
		}
	}
	clear(n.packets[len(keep):])
	n.packets = keep
	slices.SortFunc(dst, func(a, b packet) int {
		if a.due != b.due {
			if a.due < b.due {
				return -1
			}
			return 1
		}
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	return dst
}

// crashReplica forgets every packet to replica e (it cannot receive
// them); the packets it sent before it crashed stay in flight and are
// delivered (and reordered) like any other.
func (n *network) crashReplica(e int) {
	keep := n.packets[:0]
	for _, p := range n.packets {
		if p.to == e {
			continue
		}
		if p.from == e {
			p.orphan = true
		}
		keep = append(keep, p)
	}
	clear(n.packets[len(keep):])
	n.packets = keep
}

// dropEndpoint forgets every packet from or to endpoint e (a client that
// restarts: its connections died with it).
func (n *network) dropEndpoint(e int) {
	keep := n.packets[:0]
	for _, p := range n.packets {
		if p.from != e && p.to != e {
			keep = append(keep, p)
		}
	}
	clear(n.packets[len(keep):])
	n.packets = keep
}

// heal removes every partition.
func (n *network) heal() {
	for i := range n.cut {
		clear(n.cut[i])
	}
}

// isolated reports whether replica r has any cut link.
func (n *network) isolated(r int) bool {
	for i := range n.cut {
		if n.cut[r][i] || n.cut[i][r] {
			return true
		}
	}
	return false
}

// messageBytes returns the bytes of a sealed message.
func messageBytes(m *wire.Message) []byte {
	var h wire.Header
	h.Decode(m.Buffer[:wire.HeaderSize])
	return m.Bytes(h.Size)
}

// InvariantCorruptAccepted names a message corrupted in flight that its
// receiver's checksum validation accepted.
const InvariantCorruptAccepted = "corrupt_accepted"

// corruptChecked handles the validation result err of packet p at its
// receiver: a corrupted packet must fail validation and is dropped there
// (true: the caller stops); one that passes fails the run. Packets not
// corrupted are left to the caller (false).
func (s *Sim) corruptChecked(p packet, err error) bool {
	if !p.corrupt {
		return false
	}
	if err == nil {
		s.fail(violation(InvariantCorruptAccepted, "a message from %d to %d with a flipped bit passed checksum validation", p.from, p.to))
		return true
	}
	s.stats.CorruptDropped++
	return true
}

// validMessage validates a message's header and body as a receiver does.
func validMessage(data []byte, cfg *wire.Config) error {
	var h wire.Header
	if err := wire.DecodeHeader(data, &h, cfg); err != nil {
		return err
	}
	return wire.VerifyBody(&h, data[wire.HeaderSize:h.Size])
}

// forgeSyncChunk changes bytes of a state sync chunk or manifest page and
// reseals it (Options.Lie = LieResealSyncChunk): the wire checksums pass,
// only the receiver's checks against the manifest (a chunk) and the
// checkpoint's id (the manifest) can catch it.
func (s *Sim) forgeSyncChunk(to int, data []byte) []byte {
	var hd wire.Header
	hd.Decode(data)
	if (hd.Command != wire.CommandSyncCheckpoint && hd.Command != wire.CommandSyncManifest) || hd.Size <= wire.HeaderSize {
		return data
	}
	// The first copy of each chunk or page to each replica is forged,
	// later ones (answers to its retries) half the time.
	key := [4]uint64{uint64(to), uint64(hd.Command), hd.Op, hd.OpMin}
	if s.forgedChunks == nil {
		s.forgedChunks = map[[4]uint64]bool{}
	}
	if s.forgedChunks[key] && s.rng.IntN(2) == 0 {
		return data
	}
	s.forgedChunks[key] = true
	out := append([]byte(nil), data[:hd.Size]...)
	for i := wire.HeaderSize + s.rng.IntN(61); i < len(out); i += 61 {
		out[i] ^= 0x40 // many bytes, so the forgery shows in any state it reaches
	}
	wire.Seal(&hd, out)
	s.stats.LiesTold++
	s.trace.logf("LIE: %s at %d of checkpoint %d forged", hd.Command, hd.OpMin, hd.Op)
	return out
}
