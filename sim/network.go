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
		n.packets = append(n.packets, packet{due: *n.now + lat, seq: n.seq, from: from, to: to, data: buf})
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

// dropEndpoint forgets every packet from or to endpoint e (its
// connections died with it).
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
