//go:build linux

package journal

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chronon-db/chronon/wire"
	"golang.org/x/sys/unix"
)

// benchConfig is the production preset with a smaller ring and grid, so
// the warm-up pass (which takes ext4's unwritten-extent conversion out of
// the measurement) stays short. Slot and message sizes are production's.
var benchConfig = Config{
	MessageSizeMax: wire.MessageSizeMaxProduction,
	SlotCount:      256,
	ClientsMax:     4,
	GridBlockSize:  512 << 10,
	GridBlockCount: 8,
}

// BenchmarkWritePrepare1MiB appends full-size prepares through the
// journal on a real O_DIRECT file, in both header modes: ordered (prepare
// write, fdatasync, header sector write, fdatasync) and deferred (prepare
// write plus the previous header's sector write, one fdatasync).
func BenchmarkWritePrepare1MiB(b *testing.B) {
	b.Run("ordered", func(b *testing.B) { benchWritePrepare(b, HeaderOrdered) })
	b.Run("deferred", func(b *testing.B) { benchWritePrepare(b, HeaderDeferred) })
}

// benchJournal formats and opens a benchConfig journal at path in the given
// header mode; the file is closed when b ends.
func benchJournal(b *testing.B, path string, mode HeaderMode) *Journal {
	l, _ := NewLayout(benchConfig)
	f, err := CreateFile(path, l.Size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := Format(f, FormatOptions{Config: benchConfig, Cluster: testCluster, ReplicaCount: 1}); err != nil {
		b.Fatal(err)
	}
	j, err := Open(f)
	if err != nil {
		b.Fatal(err)
	}
	if err := j.SetHeaderMode(mode); err != nil {
		b.Fatal(err)
	}
	return j
}

// prepareChain makes the next prepares of one chain by re-sealing headers
// over reused bodies, checkpointing (off the clock) whenever the ring would
// wrap over an uncheckpointed op.
type prepareChain struct {
	j      *Journal
	op     uint64
	parent wire.Uint128
}

func newPrepareChain(j *Journal) *prepareChain {
	return &prepareChain{j: j, parent: wire.RootPrepare(testCluster).Checksum}
}

// makeRoom checkpoints at the chain's head if n more ops would wrap the ring.
func (c *prepareChain) makeRoom(b *testing.B, n uint64) {
	if c.op+n > c.j.Superblock().VSR.CheckpointOp+uint64(benchConfig.SlotCount) {
		b.StopTimer()
		if err := c.j.Checkpoint(c.op, c.parent, CheckpointData{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// seal turns msg (with header h) into the chain's next op. Only the header
// is re-sealed: the body, and its checksum, are reused.
func (c *prepareChain) seal(msg []byte, h *wire.Header) {
	c.op++
	h.Op, h.Commit, h.Timestamp, h.Parent = c.op, c.op-1, 1000+c.op, c.parent
	h.Encode(msg)
	h.Checksum = wire.Checksum(msg[16:wire.HeaderSize])
	putU128(msg, h.Checksum)
	c.parent = h.Checksum
}

// rawWriter writes one buffer with pwrite + fdatasync at a rotating offset
// of a region the size of the journal's prepares ring.
type rawWriter struct {
	f           *FileStorage
	buf         []byte
	off, region uint64
}

func newRawWriter(b *testing.B, path string, size int) *rawWriter {
	region := uint64(benchConfig.SlotCount) * uint64(size)
	f, err := CreateFile(path, region)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	w := &rawWriter{f: f, buf: alignedBuffer(size), region: region}
	for i := range w.buf {
		w.buf[i] = byte(i * 7)
	}
	return w
}

func (w *rawWriter) write(b *testing.B) {
	if _, err := unix.Pwrite(w.f.fd, w.buf, int64(w.off)); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fdatasync(w.f.fd); err != nil {
		b.Fatal(err)
	}
	w.off = (w.off + uint64(len(w.buf))) % w.region
}

func benchWritePrepare(b *testing.B, mode HeaderMode) {
	j := benchJournal(b, filepath.Join(b.TempDir(), "bench.chronon"), mode)
	msg, h := makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, int(benchConfig.MessageSizeMax)-wire.HeaderSize)
	c := newPrepareChain(j)
	next := func() {
		c.makeRoom(b, 1)
		c.seal(msg, &h)
		if err := j.WritePrepare(msg); err != nil {
			b.Fatal(err)
		}
	}
	for i := uint32(0); i < benchConfig.SlotCount; i++ { // warm-up: one pass over the ring
		next()
	}
	b.SetBytes(int64(benchConfig.MessageSizeMax))
	b.ResetTimer()
	for b.Loop() {
		next()
	}
}

// BenchmarkRawDirectWrite1MiB is the baseline: sequential 1 MiB pwrite +
// fdatasync on an O_DIRECT, fallocated file in the same directory, over a
// region of the same size as the journal's prepares ring.
func BenchmarkRawDirectWrite1MiB(b *testing.B) {
	w := newRawWriter(b, filepath.Join(b.TempDir(), "raw"), 1<<20)
	for i := uint32(0); i < benchConfig.SlotCount; i++ {
		w.write(b)
	}
	b.SetBytes(1 << 20)
	b.ResetTimer()
	for b.Loop() {
		w.write(b)
	}
}

// BenchmarkAppendVsRaw1MiB interleaves one journal append (1 MiB prepare,
// deferred headers) with one raw 1 MiB O_DIRECT pwrite + fdatasync on the
// same file system, so both see the same background load, and reports the
// journal's throughput as a fraction of raw ("ratio").
func BenchmarkAppendVsRaw1MiB(b *testing.B) {
	for _, mode := range []HeaderMode{HeaderOrdered, HeaderDeferred} {
		name := map[HeaderMode]string{HeaderOrdered: "ordered", HeaderDeferred: "deferred"}[mode]
		b.Run(name, func(b *testing.B) { benchAppendVsRaw(b, mode) })
	}
}

func benchAppendVsRaw(b *testing.B, mode HeaderMode) {
	dir := b.TempDir()
	j := benchJournal(b, filepath.Join(dir, "bench.chronon"), mode)
	const size = 1 << 20
	raw := newRawWriter(b, filepath.Join(dir, "raw"), size)
	msg, h := makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, size-wire.HeaderSize)
	c := newPrepareChain(j)
	appendOp := func() {
		c.makeRoom(b, 1)
		c.seal(msg, &h)
		if err := j.WritePrepare(msg); err != nil {
			b.Fatal(err)
		}
	}
	rawWrite := func() { raw.write(b) }
	for i := uint32(0); i < benchConfig.SlotCount; i++ { // warm-up pass over both regions
		appendOp()
		rawWrite()
	}
	var journalNs, rawNs int64
	b.SetBytes(2 * size)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		appendOp()
		t1 := time.Now()
		rawWrite()
		t2 := time.Now()
		journalNs += t1.Sub(t0).Nanoseconds()
		rawNs += t2.Sub(t1).Nanoseconds()
	}
	b.ReportMetric(float64(journalNs)/float64(b.N), "journal-ns/op")
	b.ReportMetric(float64(rawNs)/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(rawNs)/float64(journalNs), "ratio")
}

// BenchmarkWritePrepares8x1MiB writes batches of 8 full-size prepares (a
// full pipeline) per WritePrepares call; ns/op is per prepare.
func BenchmarkWritePrepares8x1MiB(b *testing.B) {
	b.Run("ordered", func(b *testing.B) { benchWriteBatch(b, HeaderOrdered) })
	b.Run("deferred", func(b *testing.B) { benchWriteBatch(b, HeaderDeferred) })
}

func benchWriteBatch(b *testing.B, mode HeaderMode) {
	const batch = 8
	j := benchJournal(b, filepath.Join(b.TempDir(), "bench.chronon"), mode)
	var msgs [batch][]byte
	var hs [batch]wire.Header
	for i := range msgs {
		msgs[i], hs[i] = makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, 1<<20-wire.HeaderSize)
	}
	c := newPrepareChain(j)
	next := func() {
		c.makeRoom(b, batch)
		for i := range msgs {
			c.seal(msgs[i], &hs[i])
		}
		if err := j.WritePrepares(msgs[:]...); err != nil {
			b.Fatal(err)
		}
	}
	for i := uint32(0); i < benchConfig.SlotCount/batch; i++ {
		next()
	}
	b.SetBytes(batch << 20)
	b.ResetTimer()
	for b.Loop() {
		next()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/prepare")
}
