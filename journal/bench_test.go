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

func benchWritePrepare(b *testing.B, mode HeaderMode) {
	path := filepath.Join(b.TempDir(), "bench.chronon")
	l, _ := NewLayout(benchConfig)
	f, err := CreateFile(path, l.Size)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	o := FormatOptions{Config: benchConfig, Cluster: testCluster, ReplicaCount: 1}
	if err := Format(f, o); err != nil {
		b.Fatal(err)
	}
	j, err := Open(f)
	if err != nil {
		b.Fatal(err)
	}
	if err := j.SetHeaderMode(mode); err != nil {
		b.Fatal(err)
	}
	msg, h := makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, int(benchConfig.MessageSizeMax)-wire.HeaderSize)
	op := uint64(0)
	parent := wire.RootPrepare(testCluster).Checksum
	next := func() {
		op++
		if op > j.Superblock().VSR.CheckpointOp+uint64(benchConfig.SlotCount) {
			b.StopTimer()
			if err := j.Checkpoint(op-1, parent, CheckpointData{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		// Re-seal only the header: the body (and its checksum) is reused.
		h.Op, h.Commit, h.Timestamp, h.Parent = op, op-1, 1000+op, parent
		h.Encode(msg)
		h.Checksum = wire.Checksum(msg[16:wire.HeaderSize])
		putU128(msg, h.Checksum)
		if err := j.WritePrepare(msg); err != nil {
			b.Fatal(err)
		}
		parent = h.Checksum
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
	path := filepath.Join(b.TempDir(), "raw")
	const size = 1 << 20
	region := uint64(benchConfig.SlotCount) * size
	f, err := CreateFile(path, region)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := alignedBuffer(size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	off := uint64(0)
	write := func() {
		if _, err := unix.Pwrite(f.fd, buf, int64(off)); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(f.fd); err != nil {
			b.Fatal(err)
		}
		off = (off + size) % region
	}
	for i := uint32(0); i < benchConfig.SlotCount; i++ {
		write()
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		write()
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
	l, _ := NewLayout(benchConfig)
	f, err := CreateFile(filepath.Join(dir, "bench.chronon"), l.Size)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
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
	const size = 1 << 20
	region := uint64(benchConfig.SlotCount) * size
	raw, err := CreateFile(filepath.Join(dir, "raw"), region)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	rawBuf := alignedBuffer(size)
	for i := range rawBuf {
		rawBuf[i] = byte(i * 7)
	}
	rawOff := uint64(0)
	rawWrite := func() {
		if _, err := unix.Pwrite(raw.fd, rawBuf, int64(rawOff)); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(raw.fd); err != nil {
			b.Fatal(err)
		}
		rawOff = (rawOff + size) % region
	}
	msg, h := makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, size-wire.HeaderSize)
	op := uint64(0)
	parent := wire.RootPrepare(testCluster).Checksum
	appendOp := func() {
		op++
		if op > j.Superblock().VSR.CheckpointOp+uint64(benchConfig.SlotCount) {
			if err := j.Checkpoint(op-1, parent, CheckpointData{}); err != nil {
				b.Fatal(err)
			}
		}
		h.Op, h.Commit, h.Timestamp, h.Parent = op, op-1, 1000+op, parent
		h.Encode(msg)
		h.Checksum = wire.Checksum(msg[16:wire.HeaderSize])
		putU128(msg, h.Checksum)
		if err := j.WritePrepare(msg); err != nil {
			b.Fatal(err)
		}
		parent = h.Checksum
	}
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
	l, _ := NewLayout(benchConfig)
	f, err := CreateFile(filepath.Join(b.TempDir(), "bench.chronon"), l.Size)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
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
	var msgs [batch][]byte
	var hs [batch]wire.Header
	for i := range msgs {
		msgs[i], hs[i] = makePrepare(benchConfig, 1, 0, wire.RootPrepare(testCluster).Checksum, 1<<20-wire.HeaderSize)
	}
	op := uint64(0)
	parent := wire.RootPrepare(testCluster).Checksum
	next := func() {
		if op+batch > j.Superblock().VSR.CheckpointOp+uint64(benchConfig.SlotCount) {
			b.StopTimer()
			if err := j.Checkpoint(op, parent, CheckpointData{}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		for i := range msgs {
			op++
			h := &hs[i]
			h.Op, h.Commit, h.Timestamp, h.Parent = op, op-1, 1000+op, parent
			h.Encode(msgs[i])
			h.Checksum = wire.Checksum(msgs[i][16:wire.HeaderSize])
			putU128(msgs[i], h.Checksum)
			parent = h.Checksum
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
