package replica

import (
	"bytes"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// keepBus keeps the bytes of every message a replica sends to a peer.
type keepBus struct {
	from uint8
	out  []kept
}

type kept struct {
	to   uint8
	data []byte
}

func (b *keepBus) SendToReplica(to uint8, m *wire.Message) {
	if to == b.from {
		panic("replica sent a message to itself")
	}
	var h wire.Header
	h.Decode(m.Buffer)
	b.out = append(b.out, kept{to: to, data: append([]byte(nil), m.Bytes(h.Size)...)})
}

func (b *keepBus) SendToClient(wire.Uint128, *wire.Message) {}

// syncLimits are small messages (3,840-byte chunks, 240 manifest entries a
// page), so that a checkpoint of about a megabyte has hundreds of chunks and
// a manifest of two pages.
func syncLimits(cfg *Config) {
	cfg.Limits.MessageSizeMax = 4096
	cfg.Limits.ReplySlotSize = 4096
}

// counterBlob is the checkpoint blob of a counter machine holding clients
// 1..n, each with total i (no client table).
func counterBlob(n int) CheckpointBlobs {
	m := newCounterMachine()
	for i := 1; i <= n; i++ {
		m.totals[wire.Uint128{Lo: uint64(i)}] = uint64(i)
	}
	return CheckpointBlobs{State: m.Snapshot(nil)}
}

// newSyncOne is replica index of 3 (syncLimits) on bus, like newOne but
// with a checkpoint buffer for a state of at most snapshotMax bytes.
func newSyncOne(t testing.TB, index uint8, bus Bus, snapshotMax int) *one {
	t.Helper()
	cfg := testConfig(3, index, syncLimits)
	pool := testPool(t, cfg)
	var err error
	o := &one{t: t, cfg: cfg, pool: pool, j: &fakeJournal{stored: map[uint64][]byte{}}, sm: newCounterMachine()}
	o.sm.snapshotMax = snapshotMax
	if o.r, err = New(cfg, pool, bus, o.j, fixedClock(1_700_000_000_000_000_000), o.sm); err != nil {
		t.Fatal(err)
	}
	return o
}

// syncPair is a primary (replica 0 of 3, its checkpoint at op 50) and a
// backup (replica 1), their messages kept for the test to deliver.
type syncPair struct {
	t          testing.TB
	p, b       *one
	pbus, bbus *keepBus
	// chunks counts the chunk requests of the backup by chunk index;
	// pages the manifest page requests by first entry.
	chunks map[uint64]int
	pages  map[uint64]int
}

// newSyncPair restores the primary from primary, and the backup from
// backup at op 20 unless it is nil (a backup without a checkpoint).
func newSyncPair(t testing.TB, primary CheckpointBlobs, backup *CheckpointBlobs) *syncPair {
	t.Helper()
	s := &syncPair{t: t, pbus: &keepBus{from: 0}, bbus: &keepBus{from: 1}, chunks: map[uint64]int{}, pages: map[uint64]int{}}
	// Checkpoint buffers at twice the primary's state, not the counter
	// machine's 2 GiB default: fuzzing builds two replicas per input.
	max := 2*len(primary.State) + 4096
	s.p, s.b = newSyncOne(t, 0, s.pbus, max), newSyncOne(t, 1, s.bbus, max)
	if err := s.p.r.restore(50, wire.Uint128{Lo: 50}, primary); err != nil {
		t.Fatal(err)
	}
	if backup != nil {
		if err := s.b.r.restore(20, wire.Uint128{Lo: 20}, *backup); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run offers the primary's checkpoint to the backup and delivers their
// sync messages until none is left, ticking the backup when nothing is in
// flight (its re-requests), at most ticks times. edit may change or drop
// (nil) a message from the primary before it is delivered.
func (s *syncPair) run(ticks int, edit func(h *wire.Header, data []byte) []byte) {
	s.t.Helper()
	s.p.r.offerCheckpoint(1)
	for range ticks {
		for len(s.pbus.out) > 0 || len(s.bbus.out) > 0 {
			pout, bout := s.pbus.out, s.bbus.out
			s.pbus.out, s.bbus.out = nil, nil
			for _, k := range pout {
				var h wire.Header
				h.Decode(k.data)
				if h.Command != wire.CommandSyncCheckpoint && h.Command != wire.CommandSyncManifest {
					continue
				}
				data := k.data
				if edit != nil {
					if data = edit(&h, data); data == nil {
						continue
					}
				}
				s.b.deliver(data)
			}
			for _, k := range bout {
				var h wire.Header
				h.Decode(k.data)
				switch h.Command {
				case wire.CommandRequestSyncCheckpoint:
					s.chunks[h.OpMin/s.b.r.syncChunkSize()]++
				case wire.CommandRequestSyncManifest:
					s.pages[h.OpMin]++
				default:
					continue // repair after the sync: not under test
				}
				if k.to != 0 {
					s.t.Fatalf("backup asked replica %d, not the primary", k.to)
				}
				s.p.deliver(k.data)
			}
		}
		if s.b.r.Counters.SyncsDone > 0 {
			return
		}
		s.b.r.Tick()
	}
	s.t.Fatalf("sync not done after %d ticks: %+v", ticks, s.b.r.Counters)
}

// synced checks the backup's checkpoint and state are the primary's.
func (s *syncPair) synced() {
	s.t.Helper()
	p, b := s.p.r, s.b.r
	if b.Counters.SyncsDone != 1 || b.cp.op != 50 || b.cp.id != p.cp.id || !bytes.Equal(b.cp.blob, p.cp.blob) || !bytes.Equal(b.cp.manifest, p.cp.manifest) {
		s.t.Fatalf("backup's checkpoint is not the primary's: op %d, counters %+v", b.cp.op, b.Counters)
	}
	if b.StateDigest() != p.StateDigest() || b.CommitMin() != 50 {
		s.t.Fatalf("backup's state is not the checkpoint's: commit %d", b.CommitMin())
	}
	last := s.b.j.checkpoints[len(s.b.j.checkpoints)-1]
	if last.op != 50 || !bytes.Equal(last.state, p.cp.blob[16:]) {
		s.t.Fatal("synced checkpoint not handed to the journal")
	}
}

// differing returns the indexes of the chunks of blob b that differ from
// the chunk at the same offset of blob a (or that a lacks whole).
func differing(a, b []byte, chunk uint64) map[uint64]bool {
	out := map[uint64]bool{}
	for lo := uint64(0); lo < uint64(len(b)); lo += chunk {
		hi := min(lo+chunk, uint64(len(b)))
		if hi > uint64(len(a)) || !bytes.Equal(a[lo:hi], b[lo:hi]) {
			out[lo/chunk] = true
		}
	}
	return out
}

// TestSyncFetchesOnlyDifferingChunks: a backup whose checkpoint shares a
// prefix with the primary's (a state that grew by appending) fetches only
// the chunks that differ: the first (the lengths in the header) and the
// tail; every other one is filled from its own checkpoint.
func TestSyncFetchesOnlyDifferingChunks(t *testing.T) {
	old := counterBlob(40_000)
	s := newSyncPair(t, counterBlob(42_000), &old)
	s.run(10, nil)
	s.synced()
	chunk := s.b.r.syncChunkSize()
	want := differing(joinCheckpointBlob(nil, old), s.p.r.cp.blob, chunk)
	c := s.b.r.Counters
	count := uint64(len(s.p.r.cp.manifest)) / wire.SyncManifestEntrySize
	if uint64(len(s.chunks)) != uint64(len(want)) || c.SyncChunksFetched != uint64(len(want)) || c.SyncChunksLocal != count-uint64(len(want)) {
		t.Fatalf("fetched %d chunks (counter %d), local %d, of %d; %d differ", len(s.chunks), c.SyncChunksFetched, c.SyncChunksLocal, count, len(want))
	}
	for i, n := range s.chunks {
		if !want[i] || n != 1 {
			t.Fatalf("chunk %d asked %d times; differs: %v", i, n, want[i])
		}
	}
	size := uint64(len(s.p.r.cp.blob))
	if c.SyncBytesFetched+c.SyncBytesLocal != size || c.SyncBytesFetched*4 > size {
		t.Fatalf("fetched %d bytes, local %d, of %d", c.SyncBytesFetched, c.SyncBytesLocal, size)
	}
	if len(s.pages) != 2 || s.pages[0] != 1 || s.pages[240] != 1 {
		t.Fatalf("manifest pages asked: %v, want 0 and 240 once each", s.pages)
	}
	t.Logf("%d chunks, %d fetched (%d of %d bytes), %d filled locally", count, c.SyncChunksFetched, c.SyncBytesFetched, size, c.SyncChunksLocal)
}

// TestSyncWithoutCheckpointFetchesEverything: a backup with no checkpoint
// of its own fetches every chunk, once.
func TestSyncWithoutCheckpointFetchesEverything(t *testing.T) {
	s := newSyncPair(t, counterBlob(42_000), nil)
	s.run(10, nil)
	s.synced()
	c := s.b.r.Counters
	count := uint64(len(s.p.r.cp.manifest)) / wire.SyncManifestEntrySize
	if c.SyncChunksLocal != 0 || c.SyncChunksFetched != count || uint64(len(s.chunks)) != count || c.SyncBytesFetched != uint64(len(s.p.r.cp.blob)) {
		t.Fatalf("fetched %d of %d chunks, %d local, %d bytes", c.SyncChunksFetched, count, c.SyncChunksLocal, c.SyncBytesFetched)
	}
}

// TestSyncRefusesAForgedChunk: a chunk whose bytes do not match its
// manifest entry (forged and resealed: the wire checksums pass) is refused,
// counted and asked again; the sync completes with the right bytes.
func TestSyncRefusesAForgedChunk(t *testing.T) {
	old := counterBlob(40_000)
	s := newSyncPair(t, counterBlob(42_000), &old)
	forged := false
	s.run(10, func(h *wire.Header, data []byte) []byte {
		if forged || h.Command != wire.CommandSyncCheckpoint || h.Size == wire.HeaderSize {
			return data
		}
		forged = true
		out := append([]byte(nil), data...)
		out[wire.HeaderSize+7] ^= 1
		wire.Seal(h, out)
		return out
	})
	s.synced()
	if c := s.b.r.Counters; !forged || c.SyncChunksRefused != 1 || c.SyncsFailed != 0 {
		t.Fatalf("forged %v: refused %d, failed %d", forged, c.SyncChunksRefused, c.SyncsFailed)
	}
	twice := 0
	for _, n := range s.chunks {
		if n == 2 {
			twice++
		}
	}
	if twice != 1 {
		t.Fatalf("chunks asked: %v, want one of them twice", s.chunks)
	}
}

// TestSyncReasksALostManifestPage: a manifest page that does not arrive is
// asked again after the timeout, and the sync completes.
func TestSyncReasksALostManifestPage(t *testing.T) {
	old := counterBlob(40_000)
	s := newSyncPair(t, counterBlob(42_000), &old)
	lost := false
	s.run(1000, func(h *wire.Header, data []byte) []byte {
		if !lost && h.Command == wire.CommandSyncManifest && h.OpMin > 0 {
			lost = true
			return nil
		}
		return data
	})
	s.synced()
	if !lost || s.pages[240] != 2 || s.pages[0] != 1 {
		t.Fatalf("lost %v; pages asked %v, want the second twice", lost, s.pages)
	}
}

// TestSyncRefusesAForgedManifest: a manifest whose checksum is not the id
// the offer named fails the sync (counted); nothing is filled or fetched.
func TestSyncRefusesAForgedManifest(t *testing.T) {
	old := counterBlob(40_000)
	s := newSyncPair(t, counterBlob(42_000), &old)
	s.p.r.offerCheckpoint(1)
	s.b.deliver(s.pbus.out[0].data)
	s.pbus.out = nil
	page := func(first uint64, body []byte) {
		h := wire.Header{Cluster: s.b.cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandSyncManifest,
			Replica: 0, Op: 50, Parent: s.p.r.cp.prepare, Context: s.p.r.cp.id, Commit: uint64(len(s.p.r.cp.blob)),
			OpMin: first, Size: uint32(wire.HeaderSize + len(body))}
		msg := make([]byte, h.Size)
		copy(msg[wire.HeaderSize:], body)
		wire.Seal(&h, msg)
		s.b.deliver(msg)
	}
	m := append([]byte(nil), s.p.r.cp.manifest...)
	m[len(m)-1] ^= 1
	page(0, m[:240*16])
	page(240, m[240*16:])
	c := s.b.r.Counters
	if c.SyncsFailed != 1 || s.b.r.sync.active || c.SyncChunksLocal != 0 || c.SyncChunksFetched != 0 {
		t.Fatalf("forged manifest: failed %d, active %v, local %d", c.SyncsFailed, s.b.r.sync.active, c.SyncChunksLocal)
	}
}

// FuzzSyncMessages feeds a backup in a state sync arbitrary sync_manifest
// pages and sync_checkpoint chunks from the primary (any op_min, any body;
// those that pass wire validation, as the bus would hand them over). It
// must never panic, and a sync it completes must have installed the
// primary's checkpoint: the manifest is authenticated by the offer's id and
// every chunk by its entry. Input: per message, kind u8 (bit 0: manifest),
// op_min u32, body length u16, body.
func FuzzSyncMessages(f *testing.F) {
	primary := counterBlob(400)
	seed := newSyncPair(f, primary, nil)
	var honest []byte
	add := func(kind byte, opMin uint64, body []byte) {
		honest = append(honest, kind, byte(opMin), byte(opMin>>8), byte(opMin>>16), byte(opMin>>24), byte(len(body)), byte(len(body)>>8))
		honest = append(honest, body...)
	}
	cp := &seed.p.r.cp
	add(1, 0, cp.manifest)
	chunk := seed.p.r.syncChunkSize()
	for lo := uint64(0); lo < uint64(len(cp.blob)); lo += chunk {
		add(0, lo, cp.blob[lo:min(lo+chunk, uint64(len(cp.blob)))])
	}
	f.Add(honest)
	f.Add(honest[:len(honest)/2])
	f.Add([]byte{1, 0, 0, 0, 0, 16, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := bytes.Equal(in, honest)
		s := newSyncPair(t, primary, nil)
		p, b := s.p.r, s.b.r
		p.offerCheckpoint(1)
		s.b.deliver(s.pbus.out[0].data)
		for len(in) >= 7 {
			kind, opMin, n := in[0], uint64(in[1])|uint64(in[2])<<8|uint64(in[3])<<16|uint64(in[4])<<24, int(in[5])|int(in[6])<<8
			in = in[7:]
			n = min(n, len(in))
			body := in[:n]
			in = in[n:]
			h := wire.Header{Cluster: s.b.cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandSyncCheckpoint,
				Replica: 0, Op: 50, Parent: p.cp.prepare, Context: p.cp.id, Commit: uint64(len(p.cp.blob)),
				OpMin: opMin, Size: uint32(wire.HeaderSize + n)}
			if kind&1 == 1 {
				h.Command = wire.CommandSyncManifest
			}
			if kind&2 == 2 {
				h.Commit ^= uint64(kind) // another size
			}
			msg := make([]byte, h.Size)
			copy(msg[wire.HeaderSize:], body)
			wire.Seal(&h, msg)
			if wire.DecodeHeader(msg, &h, &b.wcfg) != nil {
				continue
			}
			s.b.deliver(msg)
		}
		if b.Counters.SyncsDone > 0 && (b.cp.id != p.cp.id || !bytes.Equal(b.cp.blob, p.cp.blob) || b.StateDigest() != p.StateDigest()) {
			t.Fatal("a sync completed with another checkpoint than the primary's")
		}
		if whole && b.Counters.SyncsDone != 1 {
			t.Fatalf("the honest sequence did not complete the sync: %+v", b.Counters)
		}
	})
}

// TestSyncAfterDamagedCheckpointFetchesTheDamage: a backup whose own
// checkpoint failed at restart in the middle of its state (it read the
// state up to the bad block, and the client table) syncs the primary's
// newer checkpoint fetching only the chunks that differ from its old
// checkpoint or that it could not read; the rest come from what it read.
func TestSyncAfterDamagedCheckpointFetchesTheDamage(t *testing.T) {
	old := counterBlob(40_000)
	s := newSyncPair(t, counterBlob(42_000), nil)
	b := s.b.r
	if err := b.startWithoutCheckpoint(20); err != nil {
		t.Fatal(err)
	}
	read := len(old.State) * 3 / 5 // the bad block's offset in the state
	b.keepDamagedCheckpoint(CheckpointBlobs{State: old.State[:read]}, CheckpointSizes{State: uint64(len(old.State))})
	s.run(10, nil)
	s.synced()
	chunk := b.syncChunkSize()
	want := differing(joinCheckpointBlob(nil, old), s.p.r.cp.blob, chunk)
	for i := (16 + uint64(read)) / chunk; i*chunk < 16+uint64(len(old.State)); i++ {
		want[i] = true // not read: overlaps the damage
	}
	c := b.Counters
	count := uint64(len(s.p.r.cp.manifest)) / wire.SyncManifestEntrySize
	if uint64(len(s.chunks)) != uint64(len(want)) || c.SyncChunksLocal != count-uint64(len(want)) || c.SyncChunksLocal == 0 {
		t.Fatalf("fetched %d chunks, local %d, of %d; want %d fetched", len(s.chunks), c.SyncChunksLocal, count, len(want))
	}
	for i := range s.chunks {
		if !want[i] {
			t.Fatalf("chunk %d fetched, but the backup read it whole", i)
		}
	}
	if len(b.damaged.blob) != 0 || b.needsCheckpoint() {
		t.Fatal("the damaged checkpoint's remains outlived the sync")
	}
	t.Logf("%d chunks, %d fetched, %d filled from the remains", count, c.SyncChunksFetched, c.SyncChunksLocal)

	// Remains longer than the blob they claim to be part of are not kept.
	o := newSyncOne(t, 1, &keepBus{from: 1}, 1<<20)
	if err := o.r.startWithoutCheckpoint(20); err != nil {
		t.Fatal(err)
	}
	o.r.keepDamagedCheckpoint(CheckpointBlobs{State: old.State}, CheckpointSizes{State: 10})
	if o.r.syncBasis() != nil {
		t.Fatal("remains longer than their sizes kept")
	}
}
