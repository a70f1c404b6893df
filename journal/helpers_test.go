package journal

import (
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

var testCluster = wire.Uint128{Lo: 0xC1, Hi: 0x0C}

func testFormatOptions() FormatOptions {
	return FormatOptions{Config: ConfigTest, Cluster: testCluster, Replica: 1, ReplicaCount: 3}
}

// newFormatted returns a memory storage holding a freshly formatted file.
func newFormatted(t testing.TB, seed uint64, faults MemoryFaults) *MemoryStorage {
	t.Helper()
	l, err := NewLayout(ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemoryStorage(l.Size, seed, faults)
	if err := Format(s, testFormatOptions()); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustOpen(t testing.TB, s Storage) *Journal {
	t.Helper()
	j, err := Open(s)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return j
}

// makePrepare returns a sealed prepare for op in an aligned buffer of
// message_size_max bytes. The body is bodyLen bytes derived from op and view.
func makePrepare(cfg Config, op uint64, view uint32, parent wire.Uint128, bodyLen int) ([]byte, wire.Header) {
	msg := wire.AlignedSlice(int(cfg.MessageSizeMax))
	h := wire.Header{
		Cluster:   testCluster,
		Parent:    parent,
		Op:        op,
		Commit:    op - 1,
		Timestamp: 1000 + op,
		Size:      uint32(wire.HeaderSize + bodyLen),
		View:      view,
		Protocol:  wire.ProtocolVersion,
		Command:   wire.CommandPrepare,
		Operation: wire.OperationUserMin,
	}
	for i := 0; i < bodyLen; i++ {
		msg[wire.HeaderSize+i] = byte(op*31 + uint64(i)*7 + uint64(view))
	}
	h.Encode(msg)
	wire.Seal(&h, msg[:h.Size])
	return msg, h
}

// chain builds prepares for ops 1..n (view 0) chained from the root.
type chain struct {
	cfg  Config
	sums []wire.Uint128 // sums[op]
	msgs [][]byte
}

func newChain(cfg Config, n int, bodyLen func(op uint64) int) *chain {
	c := &chain{cfg: cfg, sums: []wire.Uint128{wire.RootPrepare(testCluster).Checksum}, msgs: [][]byte{nil}}
	for op := uint64(1); op <= uint64(n); op++ {
		msg, h := makePrepare(cfg, op, 0, c.sums[op-1], bodyLen(op))
		c.sums = append(c.sums, h.Checksum)
		c.msgs = append(c.msgs, msg)
	}
	return c
}

// writeTo journals every op of the chain and flushes the redundant headers.
func (c *chain) writeTo(t testing.TB, j *Journal) {
	t.Helper()
	for op := 1; op < len(c.msgs); op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
}

func bodyVaried(op uint64) int { return int(op*977) % (wire.MessageSizeMaxTest - wire.HeaderSize) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
