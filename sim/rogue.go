package sim

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/chronon-db/chronon/wire"
)

// A rogue endpoint on the simulated network (fault kind rogue_frame): during
// the fault phase it sends replicas random bytes and mutations of frames it
// captured on the network — bit flips, a wrong checksum, another cluster's
// id or an oversized size (resealed, so only the field rule rejects it), a
// reserved byte or an unknown command (resealed), a frame cut short. Every
// one must be rejected by the receive path's validation (wire.DecodeHeader,
// wire.VerifyBody and the frame length, as the bus reads it) and is dropped
// and counted (Stats.RogueDropped); one that passes fails the run
// (rogue_accepted).
//
// The rogue draws from its own PRNG (seeded from the run's seed) and its
// frames never reach a replica, so a seed's run is the same with or
// without it: the regression seeds keep their trajectories.

// InvariantRogueAccepted names a rogue frame that passed validation.
const InvariantRogueAccepted = "rogue_accepted"

// rogueEndpoint numbers the rogue's endpoint after every client's.
const rogueEndpoint = clientBase - 1

// rogueKind is one way of making a frame.
type rogueKind uint8

const (
	rogueRandom    rogueKind = iota // random bytes of random length
	rogueBitFlip                    // 1..8 bits of a captured frame flipped
	rogueChecksum                   // a captured frame with random checksum bytes
	rogueCluster                    // a captured frame of another cluster, resealed
	rogueOversized                  // size above message_size_max, resealed
	rogueReserved                   // a reserved byte set, resealed
	rogueCommand                    // an unknown command, resealed
	rogueTruncated                  // a captured frame cut short
	rogueKindCount
)

// rogueCaptureMax is how many frames the rogue keeps to mutate.
const rogueCaptureMax = 32

type rogue struct {
	rng      *rand.Rand
	rate     float64 // per-tick chance of a burst of 1..4 frames
	captured [][]byte
	seen     uint64    // frames offered for capture
	last     rogueKind // the kind of the last frame made
}

// newRogue returns the run's rogue, or nil when the seed leaves it off (a
// third of the seeds) or the run has no faults.
func newRogue(o Options) *rogue {
	if o.NoFaults || o.NoRogue {
		return nil
	}
	rng := rand.New(rand.NewPCG(o.Seed^0x7a11c0de, o.Seed+0x0dd5eed))
	rate := []float64{0, 0.02, 0.1, 0.5}[rng.IntN(4)]
	if o.Seed%3 == 0 {
		rate = 0
	}
	if rate == 0 {
		return nil
	}
	return &rogue{rng: rng, rate: rate}
}

// capture offers a frame sent on the network (reservoir sampling: every
// frame has the same chance to be among those kept).
func (g *rogue) capture(data []byte) {
	g.seen++
	if len(g.captured) < rogueCaptureMax {
		g.captured = append(g.captured, append([]byte(nil), data...))
		return
	}
	if i := g.rng.Uint64N(g.seen); i < rogueCaptureMax {
		g.captured[i] = append(g.captured[i][:0], data...)
	}
}

// rogueStep sends this tick's frames, if any.
func (s *Sim) rogueStep() {
	g := s.rogue
	if g == nil || g.rng.Float64() >= g.rate {
		return
	}
	for range 1 + g.rng.IntN(4) {
		to := g.rng.IntN(len(s.hosts))
		data := g.frame(&s.wcfg)
		s.net.seq++
		s.net.packets = append(s.net.packets, packet{due: s.now + 1 + g.rng.Uint64N(4), seq: s.net.seq,
			from: rogueEndpoint, to: to, data: data, rogue: true})
		s.stats.Faults[FaultRogueFrame]++
	}
}

// frame makes one hostile frame.
func (g *rogue) frame(cfg *wire.Config) []byte {
	kind := rogueKind(g.rng.IntN(int(rogueKindCount)))
	if len(g.captured) == 0 {
		kind = rogueRandom
	}
	g.last = kind
	if kind == rogueRandom {
		b := make([]byte, g.rng.IntN(2*wire.HeaderSize+64))
		for i := range b {
			b[i] = byte(g.rng.Uint32())
		}
		return b
	}
	src := g.captured[g.rng.IntN(len(g.captured))]
	b := append([]byte(nil), src...)
	switch kind {
	case rogueBitFlip:
		for range 1 + g.rng.IntN(8) {
			bit := g.rng.IntN(len(b) * 8)
			b[bit/8] ^= 1 << (bit % 8)
		}
		if bytesEqual(b, src) {
			b[g.rng.IntN(wire.HeaderSize)] ^= 0x80 // the flips cancelled out
		}
	case rogueChecksum:
		old := binary.LittleEndian.Uint64(b[wire.OffsetChecksum:])
		binary.LittleEndian.PutUint64(b[wire.OffsetChecksum:], old^(g.rng.Uint64()|1))
	case rogueCluster:
		lo := binary.LittleEndian.Uint64(b[wire.OffsetCluster:])
		binary.LittleEndian.PutUint64(b[wire.OffsetCluster:], lo^(g.rng.Uint64()|1))
		reseal(b)
	case rogueOversized:
		size := cfg.MessageSizeMax + 1 + uint32(g.rng.IntN(1<<20))
		binary.LittleEndian.PutUint32(b[wire.OffsetSize:], size)
		reseal(b)
	case rogueReserved:
		b[wire.OffsetReserved+g.rng.IntN(wire.ReservedSize)] = byte(1 + g.rng.IntN(255))
		reseal(b)
	case rogueCommand:
		// Reserved, the first two numbers past the protocol's commands,
		// and far ones.
		b[wire.OffsetCommand] = byte([]int{0, firstUnknownCommand, firstUnknownCommand + 1, 100, 255}[g.rng.IntN(5)])
		reseal(b)
	case rogueTruncated:
		b = b[:g.rng.IntN(len(b))]
	}
	return b
}

// reseal recomputes the header checksum of b (the body's is unchanged).
func reseal(b []byte) {
	sum := wire.Checksum(b[wire.OffsetChecksumBody:wire.HeaderSize])
	binary.LittleEndian.PutUint64(b[wire.OffsetChecksum:], sum.Lo)
	binary.LittleEndian.PutUint64(b[wire.OffsetChecksum+8:], sum.Hi)
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// deliverRogue validates a rogue frame as the receiving replica's bus does
// (header, then exactly size bytes, then the body checksum) and drops it.
func (s *Sim) deliverRogue(p packet) {
	var h wire.Header
	err := wire.DecodeHeader(p.data, &h, &s.wcfg)
	if err == nil && int(h.Size) != len(p.data) {
		err = errRogueLength
	}
	if err == nil {
		err = wire.VerifyBody(&h, p.data[wire.HeaderSize:])
	}
	if err == nil {
		s.fail(violation(InvariantRogueAccepted, "replica %d would accept a rogue frame (%s, %d bytes)", p.to, h.Command, len(p.data)))
		return
	}
	s.stats.RogueDropped++
}

// errRogueLength: the frame ends before (or after) the size its header
// announces; on a TCP stream the bus would wait for the rest and take the
// next frame's bytes for it, failing the body checksum.
var errRogueLength = wireLengthError{}

type wireLengthError struct{}

func (wireLengthError) Error() string { return "sim: frame length differs from its size" }

// firstUnknownCommand is one past the protocol's highest command.
var firstUnknownCommand = func() int {
	c := 1
	for wire.Command(c).Valid() {
		c++
	}
	return c
}()
