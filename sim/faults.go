package sim

import (
	"fmt"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// Bounds that keep faults within what VSR (as implemented today) repairs.
const (
	// lagMax is how many ops the primary may get ahead of a crashed or cut
	// off backup before the simulator restarts or reconnects it: the WAL
	// (128 slots) must still hold what it missed, since state sync does not
	// exist yet.
	lagMax = 64
	// corruptWindow is how far below the primary's op a corrupted WAL entry
	// may lie (so the primary's WAL still holds the op for repair).
	corruptWindow = 32
	// armTicksMax is how long an armed mid-write crash may wait for a write
	// before the replica is crashed anyway.
	armTicksMax = 50
)

// partitionState is the one active partition.
type partitionState struct {
	active bool
	until  uint64
	cut    []int // replicas cut off (symmetric) or the sending side (asymmetric)
}

// faultyCount counts replicas that are down, armed to crash, cut off,
// still catching up after a restart, or rejoining after a lost data file:
// at most f of them at any time.
func (s *Sim) faultyCount() int { return s.countFaulty(true) }

// countFaulty is faultyCount; rejoining replicas count only if
// withRejoining. Partitions ignore them: a partition while a replica
// rejoins may stall the cluster until it heals, but must never break
// safety, and that is exactly where a rejoiner could be misled (a stale
// primary of an old view reaching it first).
func (s *Sim) countFaulty(withRejoining bool) int {
	n := 0
	for i, h := range s.hosts {
		// A replica armed to crash inside a write counts already: it will
		// go down at its next write, whatever happens meanwhile.
		if !h.up || h.crashWrites >= 0 || s.net.isolated(i) || s.paused(i) || (h.catchUp > 0 && h.replica.CommitMin() < h.catchUp) ||
			(withRejoining && h.replica.Rejoining()) {
			n++
		}
	}
	return n
}

func (s *Sim) f() int { return (len(s.hosts) - 1) / 2 }

// mayFault reports whether replica i may be hit by a crash or partition.
func (s *Sim) mayFault(i int) bool {
	if len(s.hosts) == 1 {
		return true // a single replica restarts with everything it journaled
	}
	p, _ := s.primary()
	return i != p || s.sc.primaryFaultsFinal
}

func (s *Sim) primaryOp() uint64 {
	op := uint64(0)
	for _, h := range s.hosts {
		if h.up {
			op = max(op, h.replica.Op())
		}
	}
	return op
}

// injectFaults runs once per tick of the fault phase.
func (s *Sim) injectFaults() {
	sc := s.sc
	pop := s.primaryOp()
	for i, h := range s.hosts {
		switch {
		case !h.up && (s.now >= h.downUntil || pop > h.crashOp+lagMax):
			s.restart(h)
		case h.up && h.crashWrites >= 0 && s.now-h.armedAt > armTicksMax:
			s.stats.Faults[FaultCrash]++
			h.crash(journal.CrashMode(s.rng.IntN(3)), "armed crash without a write")
		case h.up && h.catchUp > 0 && h.replica.CommitMin() >= h.catchUp:
			h.catchUp = 0
		}
		_ = i
	}
	if s.partition.active && (s.now >= s.partition.until || s.partitionLagging()) {
		s.net.heal()
		s.partition.active = false
		s.trace.logf("partition healed")
	}
	if sc.crashPct > 0 && s.rng.Float64() < sc.crashPct {
		s.crashRandom()
	}
	if sc.powerLossPct > 0 && s.rng.Float64() < sc.powerLossPct {
		s.powerLoss()
	}
	if sc.partitionPct > 0 && !s.partition.active && s.rng.Float64() < sc.partitionPct {
		s.partitionRandom()
	}
	if sc.corruptPct > 0 && s.rng.Float64() < sc.corruptPct {
		s.corruptRandom()
	}
	if sc.clientRestartPct > 0 && s.rng.Float64() < sc.clientRestartPct {
		c := s.clients[s.rng.IntN(len(s.clients))]
		s.stats.Faults[FaultClientRestart]++
		s.trace.logf("client %d restarts", c.index)
		c.restart()
	}
}

func (s *Sim) partitionLagging() bool {
	pop := s.primaryOp()
	for i, h := range s.hosts {
		if h.up && s.net.isolated(i) && pop > h.replica.CommitMin()+lagMax {
			return true
		}
	}
	return false
}

func (s *Sim) crashRandom() {
	i := s.rng.IntN(len(s.hosts))
	if s.rng.IntN(2) == 0 {
		// Half the crashes land on a replica with prepare writes in flight
		// (submitted, completion not delivered), if there is one.
		for k := range len(s.hosts) {
			if j := (i + k) % len(s.hosts); s.hosts[j].up && len(s.hosts[j].inflight) > 0 {
				i = j
				break
			}
		}
	}
	h := s.hosts[i]
	if !h.up || !s.mayFault(i) || h.crashWrites >= 0 {
		return
	}
	if len(s.hosts) > 1 && s.faultyCount()+1 > s.f() {
		return
	}
	p, _ := s.primary()
	if i == p && len(s.hosts) > 1 {
		s.stats.Faults[FaultCrashPrimary]++
	}
	h.downUntil = s.now + 1 + s.rng.Uint64N(s.sc.downTicksMax)
	if s.rng.Float64() < s.sc.crashMidWritePct {
		h.crashWrites = h.storage.Writes() + s.rng.IntN(4)
		h.armedAt = s.now
		h.storage.CrashAfterWrites(h.crashWrites - h.storage.Writes())
		s.trace.logf("replica %d armed to crash after %d more writes", i, h.crashWrites-h.storage.Writes())
		return
	}
	s.stats.Faults[FaultCrash]++
	h.crash(journal.CrashMode(s.rng.IntN(3)), "crash")
	if h.lostInFlight > 0 && s.sc.crashCutPct > 0 && s.rng.Float64() < s.sc.crashCutPct {
		s.cutPrimaryAfterCrash(i)
	}
	if !h.protected && len(s.hosts) > 1 && s.rng.Float64() < s.sc.reformatPct {
		// The disk is gone: the replica comes back on a new data file.
		h.reformat = true
		h.damaged = true
		return
	}
	// Bit rot is found at restart: often hit the storage of a replica just
	// after it went down.
	if !h.protected && s.rng.IntN(2) == 0 {
		s.corruptDown(h)
	}
}

// cutPrimaryAfterCrash cuts the primary off right after backup i crashed
// and lost or tore prepare writes in flight: a correlated failure (the
// backup's rack loses power and the primary's network at once). The
// remaining backups and i, once back, may start a view without the
// primary; an op committed with i's acknowledgment must be in it, which
// holds only if i acknowledged nothing it had not made durable. Primary
// partitions are outside the f budget, as in partitionRandom.
func (s *Sim) cutPrimaryAfterCrash(i int) {
	p, up := s.primary()
	n := len(s.hosts)
	if n < 3 || !s.sc.primaryFaultsFinal || p == i || !up || s.partition.active {
		return
	}
	dur := 10 + s.rng.Uint64N(s.sc.partitionTicksMax)
	for j := 0; j < n; j++ {
		if j != p {
			s.net.cut[p][j], s.net.cut[j][p] = true, true
		}
	}
	s.partition = partitionState{active: true, until: s.now + dur}
	s.stats.Faults[FaultCrashThenPrimaryCut]++
	s.trace.logf("partition: primary %d cut off for %d ticks after replica %d crashed with writes in flight", p, dur, i)
}

// powerLoss crashes every replica at once, as a power failure of the whole
// cluster: writes not yet synced are lost or torn (journal.CrashRandom),
// nothing else is damaged, and each comes back after its own delay. Only
// while every replica is up and not armed to crash, so it adds no storage
// fault to one that already has its share.
func (s *Sim) powerLoss() {
	for _, h := range s.hosts {
		if !h.up || h.crashWrites >= 0 {
			return
		}
	}
	s.stats.Faults[FaultPowerLoss]++
	s.keepInflight = !s.sc.PowerLossInFlight
	for _, h := range s.hosts {
		h.downUntil = s.now + 1 + s.rng.Uint64N(s.sc.downTicksMax)
		h.crash(journal.CrashRandom, "power loss")
	}
	s.keepInflight = false
}

// crashOnError handles a storage error outside the replica (journal Flush,
// RecordVSR): the armed crash, or a real bug.
func (h *host) crashOnError(err error) {
	if h.crashWrites >= 0 && h.storage.Writes() >= h.crashWrites {
		h.sim.stats.Faults[FaultCrashMidWrite]++
		h.crash(journal.CrashRandom, fmt.Sprintf("inside a write: %v", err))
		return
	}
	h.sim.fail(violation(InvariantRestart, "replica %d: storage error without an injected crash: %v", h.index, err))
}

func (s *Sim) restart(h *host) {
	s.stats.Restarts++
	if h.reformat {
		h.reformat = false
		old := h.storage
		if err := h.format(true); err != nil {
			s.fail(violation(InvariantRestart, "replica %d: reformat: %v", h.index, err))
			return
		}
		h.storage.misdirectWrite, h.storage.misdirectRead = old.misdirectWrite, old.misdirectRead
		h.storage.gridWriteFault = old.gridWriteFault
		s.stats.Faults[FaultReformat]++
		s.trace.logf("replica %d lost its data file: new one formatted to rejoin", h.index)
	}
	if err := h.start(); err != nil {
		s.fail(violation(InvariantRestart, "%v", err))
		return
	}
	// A replica that came back with its data intact is a correct replica
	// again; one whose storage was damaged (bit rot while down, a lost data
	// file) or that withholds its vote counts as faulty until it caught up.
	h.catchUp = 0
	if h.damaged || h.withheld {
		h.catchUp = s.primaryOp()
	}
	h.damaged = false
	if err := s.replies.checkAcked(); err != nil {
		s.fail(err)
	}
}

func (s *Sim) partitionRandom() {
	n := len(s.hosts)
	if n == 1 {
		return
	}
	p, _ := s.primary()
	dur := 10 + s.rng.Uint64N(s.sc.partitionTicksMax)
	kind := s.rng.IntN(3)
	switch {
	case kind == 2 && s.sc.primaryFaultsFinal:
		for i := 0; i < n; i++ {
			if i != p {
				s.net.cut[p][i], s.net.cut[i][p] = true, true
			}
		}
		s.stats.Faults[FaultPartitionPrimary]++
		s.trace.logf("partition: primary %d cut off for %d ticks", p, dur)
	case kind == 1:
		// One direction of one link of a backup.
		a := s.rng.IntN(n)
		b := (a + 1 + s.rng.IntN(n-1)) % n
		if (!s.mayFault(a) && !s.mayFault(b)) || s.countFaulty(false)+1 > s.f() {
			return
		}
		s.net.cut[a][b] = true
		s.stats.Faults[FaultPartitionAsymmetric]++
		s.trace.logf("partition: %d -> %d cut for %d ticks", a, b, dur)
	default:
		// Cut off up to f backups from everyone else.
		k := 1 + s.rng.IntN(s.f())
		var group []int
		for _, i := range s.rng.Perm(n) {
			if len(group) < k && s.mayFault(i) && s.hosts[i].up {
				group = append(group, i)
			}
		}
		if len(group) == 0 || s.countFaulty(false)+len(group) > s.f() {
			return
		}
		in := make([]bool, n)
		for _, i := range group {
			in[i] = true
		}
		for a := 0; a < n; a++ {
			for b := 0; b < n; b++ {
				if a != b && in[a] != in[b] {
					s.net.cut[a][b] = true
				}
			}
		}
		s.stats.Faults[FaultPartitionSymmetric]++
		s.trace.logf("partition: %v cut off for %d ticks", group, dur)
	}
	s.partition = partitionState{active: true, until: s.now + dur}
}

// corruptRandom flips a bit in one replica's storage: a WAL prepare or
// header of a recent op, or a superblock copy, while the replica is down
// (found at restart); or a grid block that its checkpoint does not use,
// while it runs. Protected replicas (the primary) and single-replica
// clusters get none: nothing could repair them.
func (s *Sim) corruptRandom() {
	if len(s.hosts) == 1 {
		return
	}
	h := s.hosts[s.rng.IntN(len(s.hosts))]
	if h.protected {
		return
	}
	if h.up {
		s.corruptGrid(h)
		return
	}
	s.corruptDown(h)
}

// corruptDown flips a bit in the WAL or a superblock copy of a replica
// that is down.
func (s *Sim) corruptDown(h *host) {
	if s.sc.CheckpointRot && s.rng.IntN(2) == 0 && s.corruptCheckpoint(h) {
		return
	}
	l := &h.layout
	pop := s.primaryOp()
	op := pop - min(pop, s.rng.Uint64N(corruptWindow))
	if op == 0 {
		return
	}
	slot := l.SlotOf(op)
	switch s.rng.IntN(3) {
	case 0:
		off := l.PrepareOffset(slot) + s.rng.Uint64N(journal.SectorSize)
		h.storage.FlipBit(off, uint(s.rng.IntN(8)))
		s.stats.Faults[FaultCorruptWALPrepare]++
		s.trace.logf("replica %d: bit flipped in the prepare of op %d", h.index, op)
	case 1:
		off := l.HeaderSectorOffset(slot) + uint64(slot%(journal.SectorSize/256))*256 + s.rng.Uint64N(256)
		h.storage.FlipBit(off, uint(s.rng.IntN(8)))
		s.stats.Faults[FaultCorruptWALHeader]++
		s.trace.logf("replica %d: bit flipped in the redundant header of op %d", h.index, op)
	default:
		if h.superblockHit {
			return
		}
		h.superblockHit = true
		h.damaged = true
		off := l.SuperblockOffset(s.rng.IntN(journal.SuperblockCopies)) + s.rng.Uint64N(512)
		h.storage.FlipBit(off, uint(s.rng.IntN(8)))
		s.stats.Faults[FaultCorruptSuperblock]++
		s.trace.logf("replica %d: bit flipped in a superblock copy", h.index)
		return
	}
	h.crashOp = min(h.crashOp, op-1)
	h.damaged = true
}

// corruptGrid flips a bit in the grid of a running replica, and undoes it
// when the current checkpoint reads that block (without state sync a
// corrupt checkpoint cannot be repaired from peers).
func (s *Sim) corruptGrid(h *host) {
	if h.wal.Busy() {
		return // the journal reads nothing while its prepares are written
	}
	switch s.rng.IntN(4) {
	case 0, 1:
		if s.corruptStable(h) {
			return
		}
	case 2:
		if s.corruptPrewritten(h) {
			return
		}
	}
	z := h.layout.Grid
	off := z.Offset + s.rng.Uint64N(z.Size)
	bit := uint(s.rng.IntN(8))
	if h.journal.Prewritten((off-z.Offset)/uint64(h.layout.Config.GridBlockSize) + 1) {
		return // a block written ahead for the next checkpoint: not free
	}
	h.storage.FlipBit(off, bit)
	h.repairWatch.damaged((off-z.Offset)/uint64(h.layout.Config.GridBlockSize) + 1)
	sb := h.journal.Superblock()
	for i, ref := range sb.VSR.Refs {
		if ref.IsZero() {
			continue
		}
		if _, err := h.journal.ReadBlob(ref, journal.BlockType(i+1), nil); err != nil {
			h.storage.FlipBit(off, bit)
			return
		}
	}
	s.stats.Faults[FaultCorruptGrid]++
	s.trace.logf("replica %d: bit flipped in a free grid block", h.index)
}

// corruptStable flips a bit in the payload of a block of the stable prefix
// the running replica's durable checkpoint holds (the ledger's transfers
// it reads back from the grid): a read of it fails and the replica repairs
// it from a peer (request_stable), or a restart finds the checkpoint
// damaged and syncs. It reports whether it flipped one.
func (s *Sim) corruptStable(h *host) bool {
	_, held := h.journal.StableHeld()
	unit := h.journal.StableUnit()
	if held == 0 {
		return false
	}
	k := s.rng.IntN(held / unit)
	a := h.journal.StableBlockAddress(k)
	if a == 0 {
		return false
	}
	off := h.layout.BlockOffset(a) + wire.HeaderSize + s.rng.Uint64N(uint64(unit))
	h.storage.FlipBit(off, uint(s.rng.IntN(8)))
	h.repairWatch.damaged(a)
	s.stats.Faults[FaultCorruptStable]++
	s.trace.logf("replica %d: bit flipped in stable block %d (grid block %d)", h.index, k, a)
	return true
}

// corruptPrewritten flips a bit in a grid block the running replica
// wrote ahead for its next checkpoint (journal.Prewritten: a block of the
// stable prefix that checkpoint will hold, not yet held): the checkpoint
// takes it as written, and a read or the scrubber then finds it damaged
// and the replica repairs it from a peer.
func (s *Sim) corruptPrewritten(h *host) bool {
	var pre []uint64
	for a := uint64(1); a <= uint64(h.layout.Config.GridBlockCount); a++ {
		if h.journal.Prewritten(a) {
			pre = append(pre, a)
		}
	}
	if len(pre) == 0 {
		return false
	}
	a := pre[s.rng.IntN(len(pre))]
	off := h.layout.BlockOffset(a) + s.rng.Uint64N(uint64(wire.HeaderSize+h.journal.StableUnit()))
	h.storage.FlipBit(off, uint(s.rng.IntN(8)))
	h.repairWatch.damaged(a)
	s.stats.Faults[FaultCorruptPrewritten]++
	s.trace.logf("replica %d: bit flipped in grid block %d (written ahead)", h.index, a)
	return true
}

var _ = replica.StatusNormal
