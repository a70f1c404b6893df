package replica

import (
	"encoding/binary"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// sumMachine is an allocation-free state machine for benchmarks.
type sumMachine struct{ sum uint64 }

func (s *sumMachine) Validate(wire.Operation, []byte) error { return nil }
func (s *sumMachine) Apply(_ *statemachine.Context, _ wire.Operation, input, reply []byte) int {
	if len(input) >= 8 {
		s.sum += binary.LittleEndian.Uint64(input)
	}
	binary.LittleEndian.PutUint64(reply, s.sum)
	return 8
}
func (s *sumMachine) ReplySizeMax(wire.Operation, int) int { return 8 }

// LocalOnly declares no local-only operation; it puts the check on the
// request path that a machine with an outbox has.
func (s *sumMachine) LocalOnly(wire.Operation) bool { return false }
func (s *sumMachine) Digest() wire.Uint128          { return wire.Uint128{Lo: s.sum} }
func (s *sumMachine) Snapshot(dst []byte) []byte    { return dst }
func (s *sumMachine) Restore([]byte) error          { return nil }
func (s *sumMachine) SnapshotSizeMax() int          { return 0 }

type discardBus struct{ sent int }

func (b *discardBus) SendToReplica(uint8, *wire.Message)       { b.sent++ }
func (b *discardBus) SendToClient(wire.Uint128, *wire.Message) { b.sent++ }
func (j *queueJournal) ReadPrepare(op uint64, m *wire.Message) { panic("unused") }
func (j *queueJournal) WritePrepare(m *wire.Message)           { j.pending = append(j.pending, m.Ref()) }
func (c fixedClock) Realtime() uint64                          { return uint64(c) }
func (j *queueJournal) complete(r *Replica)                    { j.flush(r) }
func (j *queueJournal) flush(r *Replica) {
	for _, m := range j.pending {
		r.OnPrepareWritten(m)
		m.Unref()
	}
	j.pending = j.pending[:0]
}

type queueJournal struct{ pending []*wire.Message }
type fixedClock uint64

// BenchmarkPrimaryRequestPath measures the primary's whole per-request path
// on a single-replica cluster: session checks, queueing, batching into a
// prepare, sealing, the (immediate) journal completion, commit, apply and
// the reply. Reported per request; it must not allocate.
func BenchmarkPrimaryRequestPath(b *testing.B) {
	const clients = 64
	limits := wire.LimitsTest
	limits.ReplicaCount = 1
	limits.ClientsMax = clients
	limits.ClientMessagesMax = clients // a request of every client queued at once
	cfg := Config{Cluster: wire.Uint128{Lo: 1}, ReplicaCount: 1, Limits: limits}
	cfg.DefaultTimeouts()
	pool, _ := wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
	inbox, _ := wire.NewPool(clients, limits.MessageSizeMax)
	journal := &queueJournal{pending: make([]*wire.Message, 0, 64)}
	r, err := New(cfg, pool, &discardBus{}, journal, fixedClock(1), &sumMachine{})
	if err != nil {
		b.Fatal(err)
	}
	wcfg := cfg.wireConfig()
	deliver := func(client uint64, session uint64, request uint32) {
		m, err := inbox.Get()
		if err != nil {
			b.Fatal(err)
		}
		h := wire.Header{
			Cluster: cfg.Cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion,
			Command: wire.CommandRequest, Client: wire.Uint128{Lo: client}, Operation: wire.OperationRegister,
		}
		if session != 0 {
			parent := r.clients.get(wire.Uint128{Lo: client}).replyHeader.Checksum
			h.Operation, h.Session, h.Request, h.Parent = opAdd, session, request, parent
			h.Size += 8
			binary.LittleEndian.PutUint64(m.Buffer[wire.HeaderSize:], 1)
		}
		wire.Seal(&h, m.Bytes(h.Size))
		var got wire.Header
		if err := wire.DecodeHeader(m.Buffer, &got, &wcfg); err != nil {
			b.Fatal(err)
		}
		r.OnMessage(m, &got)
		m.Unref()
	}
	sessions := make([]uint64, clients)
	for i := range clients {
		deliver(uint64(i+1), 0, 0)
		r.Flush()
		journal.complete(r)
		sessions[i] = r.clients.get(wire.Uint128{Lo: uint64(i + 1)}).session
	}
	b.ReportAllocs()
	request := uint32(0)
	n := 0
	for b.Loop() {
		request++
		for i := range clients {
			deliver(uint64(i+1), sessions[i], request)
		}
		r.Flush()
		journal.complete(r)
		n += clients
	}
	if r.Counters.RequestsApplied != uint64(n) {
		b.Fatalf("applied %d of %d requests", r.Counters.RequestsApplied, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
	b.ReportMetric(float64(r.Counters.RequestsBatched)/float64(r.Counters.PreparesSent), "requests/prepare")
}

func (j *queueJournal) Checkpoint(uint64, wire.Uint128, CheckpointBlobs) error { return nil }
func (j *queueJournal) PersistView(uint32, uint32, uint64, wire.Uint128, uint64, uint64) error {
	return nil
}
func (j *queueJournal) Truncate(uint64) error  { return nil }
func (j *queueJournal) PersistRejoined() error { return nil }
