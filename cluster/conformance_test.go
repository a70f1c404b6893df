package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
	"github.com/zeebo/xxh3"
)

// Conformance of a running replica to docs/protocol.md: frames built by hand
// from the document's header table (offsets, little-endian, xxh3-128
// checksums: not with package wire's encoder), sent over TCP to replicas of
// an in-process cluster through the real bus, one fresh connection per
// rule. Each row names the rule of docs/protocol.md ("Validation",
// "Commands", "Requests", "Redirect") it checks, what the replica must
// answer (a reply, an eviction, a redirect, a close, or nothing) and the
// counter that must move on that replica.

// u128 is a documented u128: the low 64 bits first.
type u128 struct{ lo, hi uint64 }

// frame is a message by the fields of docs/protocol.md, "Header".
type frame struct {
	cluster, parent, client, context      u128
	op, commit, timestamp, session, opMin uint64
	size                                  uint32 // 0: 256 + len(body)
	view, logView, request                uint32
	protocol                              uint16 // 0: 1
	noProtocol                            bool   // send protocol 0
	command, replica, operation, reason   uint8
	reservedByte                          byte // written at offset 200
	body                                  []byte
	badChecksum, badBodyChecksum          bool
	raw                                   []byte // sent as is instead
}

func putU128(b []byte, v u128) {
	binary.LittleEndian.PutUint64(b, v.lo)
	binary.LittleEndian.PutUint64(b[8:], v.hi)
}

func xxh(b []byte) u128 {
	s := xxh3.Hash128(b)
	return u128{lo: s.Lo, hi: s.Hi}
}

// bytes encodes and seals f as the document says: checksum_body over the
// body, then checksum over bytes [16, 256).
func (f *frame) bytes() []byte {
	if f.raw != nil {
		return f.raw
	}
	msg := make([]byte, 256+len(f.body))
	b := msg[:256]
	putU128(b[32:], f.cluster)
	putU128(b[48:], f.parent)
	putU128(b[64:], f.client)
	putU128(b[80:], f.context)
	binary.LittleEndian.PutUint64(b[96:], f.op)
	binary.LittleEndian.PutUint64(b[104:], f.commit)
	binary.LittleEndian.PutUint64(b[112:], f.timestamp)
	binary.LittleEndian.PutUint64(b[120:], f.session)
	binary.LittleEndian.PutUint64(b[128:], f.opMin)
	size := f.size
	if size == 0 {
		size = uint32(len(msg))
	}
	binary.LittleEndian.PutUint32(b[136:], size)
	binary.LittleEndian.PutUint32(b[140:], f.view)
	binary.LittleEndian.PutUint32(b[144:], f.logView)
	binary.LittleEndian.PutUint32(b[148:], f.request)
	protocol := f.protocol
	if protocol == 0 && !f.noProtocol {
		protocol = 1
	}
	binary.LittleEndian.PutUint16(b[152:], protocol)
	b[154], b[155], b[156], b[157] = f.command, f.replica, f.operation, f.reason
	b[200] = f.reservedByte
	copy(msg[256:], f.body)
	putU128(b[16:], xxh(msg[256:]))
	if f.badBodyChecksum {
		b[16] ^= 1
	}
	putU128(b[0:], xxh(b[16:256]))
	if f.badChecksum {
		b[0] ^= 1
	}
	return msg
}

// checksum returns the checksum field of an encoded frame.
func checksumOf(msg []byte) u128 {
	return u128{lo: binary.LittleEndian.Uint64(msg[0:]), hi: binary.LittleEndian.Uint64(msg[8:])}
}

func u(w wire.Uint128) u128 { return u128{lo: w.Lo, hi: w.Hi} }

// putBody is a kv put body (docs/state-machines.md): key_size u16,
// value_size u16, key, value.
func putBody(key, value string) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(key)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	return append(append(b, key...), value...)
}

// conformance is the state the rows share: the cluster, the primary and a
// backup, and one client's session as the replies left it.
type conformance struct {
	t        *testing.T
	c        *Cluster
	cluster  u128
	primary  int
	backup   int
	view     uint32
	client   u128
	session  uint64 // current session
	first    uint64 // the session before the last register (0: none)
	request  uint32 // last request number answered
	parent   u128   // checksum of the last reply
	lastSent []byte // the last request answered
}

// request builds the client's next request (request+1, parent the last
// reply) of operation with body.
func (s *conformance) next(operation uint8, body []byte) frame {
	return frame{cluster: s.cluster, command: 3, client: s.client, session: s.session,
		request: s.request + 1, parent: s.parent, operation: operation, body: body, view: s.view}
}

func (s *conformance) register() frame {
	return frame{cluster: s.cluster, command: 3, client: s.client, operation: 2, view: s.view}
}

// outcome is what a row must get back.
type outcome uint8

const (
	wantClose    outcome = iota // the connection closes with no message
	wantNothing                 // no message; the connection stays open
	wantReply                   // a reply to the request
	wantEviction                // an eviction
	wantRedirect                // a redirect
)

type conformanceRow struct {
	rule    string // the rule of docs/protocol.md
	backup  bool   // sent to the backup (default: the primary)
	frame   func(s *conformance) frame
	want    outcome
	counter string // "bus.Name" or "replica.Name": must grow on the target
	// check examines the answer (wantReply, wantEviction, wantRedirect);
	// sent is the frame's bytes.
	check func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte)
}

func newKV(*outbox.Emitter) statemachine.StateMachine {
	s, err := kv.New(kv.Config{KeysMax: 64, ValueSizeMax: 64, ReplySizeLimit: kv.ReplySizeLimitFor(wire.MessageSizeMaxTest)})
	if err != nil {
		panic(err)
	}
	return s
}

func TestProtocolConformance(t *testing.T) {
	c, err := Start(Config{Replicas: 3, Dir: t.TempDir(), NewStateMachine: newKV})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	if err := c.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Past view 0, so a request of view 0 to a backup is redirected.
	if _, err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	s := &conformance{t: t, c: c, cluster: u(c.ClientConfig().Cluster), client: u128{lo: 0xc0ffee, hi: 7}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m1, m2 := c.Node(1).Metrics(), c.Node(2).Metrics()
		if m1.ReplicaStatus == replica.StatusNormal && m2.ReplicaStatus == replica.StatusNormal &&
			m1.Status.View == m2.Status.View && m1.Status.View%3 != 0 {
			s.view = m1.Status.View
			s.primary = int(s.view % 3)
			s.backup = 3 - s.primary
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no normal view with replicas 1 and 2")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The unbroken frames the "commands/" rows start from are valid, so
	// each row's close is its one broken rule's doing.
	wcfg := wire.Config{Cluster: c.ClientConfig().Cluster, ReplicaCount: 3, MessageSizeMax: wire.MessageSizeMaxTest}
	for cmd := uint8(1); cmd <= 21; cmd++ {
		if cmd == 3 {
			continue // request: the rows above start from the session's valid requests
		}
		f := peerFrame(cmd, func(*frame) {})(s)
		b := f.bytes()
		var h wire.Header
		err := wire.DecodeHeader(b, &h, &wcfg)
		if err == nil {
			err = wire.VerifyBody(&h, b[wire.HeaderSize:])
		}
		if err != nil {
			t.Fatalf("base frame of command %d does not validate: %v", cmd, err)
		}
	}
	for _, row := range conformanceRows {
		if !t.Run(row.rule, func(t *testing.T) { s.run(t, &row) }) {
			return // later rows build on the session
		}
	}
}

// run sends one row's frame on a fresh connection and checks the outcome.
func (s *conformance) run(t *testing.T, row *conformanceRow) {
	target := s.primary
	if row.backup {
		target = s.backup
	}
	before := s.counter(target, row.counter)
	f := row.frame(s)
	sent := f.bytes()
	conn, err := net.DialTimeout("tcp", s.c.Addresses()[target], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(sent); err != nil {
		t.Fatal(err)
	}
	waitCounter := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s.counter(target, row.counter) <= before {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not move on replica %d (still %d)", row.counter, target, before)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	switch row.want {
	case wantClose:
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.ReadFull(conn, make([]byte, wire.HeaderSize))
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection not closed (read %d bytes, %v)", n, err)
		}
		waitCounter()
	case wantNothing:
		waitCounter()
		// The counter moved after the message was handled: anything the
		// replica sent in answer is queued by now.
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Read(make([]byte, wire.HeaderSize))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("want no answer and an open connection, read %d bytes, %v", n, err)
		}
	default:
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		head := make([]byte, wire.HeaderSize)
		if _, err := io.ReadFull(conn, head); err != nil {
			t.Fatalf("no answer: %v", err)
		}
		wcfg := wire.Config{Cluster: s.c.ClientConfig().Cluster, ReplicaCount: 3, MessageSizeMax: wire.MessageSizeMaxTest}
		var h wire.Header
		if err := wire.DecodeHeader(head, &h, &wcfg); err != nil {
			t.Fatalf("answer does not validate: %v", err)
		}
		body := make([]byte, h.BodySize())
		if _, err := io.ReadFull(conn, body); err != nil {
			t.Fatal(err)
		}
		if err := wire.VerifyBody(&h, body); err != nil {
			t.Fatal(err)
		}
		want := map[outcome]wire.Command{wantReply: wire.CommandReply, wantEviction: wire.CommandEviction, wantRedirect: wire.CommandRedirect}[row.want]
		if h.Command != want {
			t.Fatalf("answer %s, want %s: %+v", h.Command, want, h)
		}
		client := wire.Uint128{Lo: binary.LittleEndian.Uint64(sent[64:]), Hi: binary.LittleEndian.Uint64(sent[72:])}
		if h.Client != client || h.Replica != uint8(target) {
			t.Fatalf("answer for client %v from replica %d: %+v", h.Client, h.Replica, h)
		}
		if row.check != nil {
			row.check(t, s, sent, &h, body)
		}
		waitCounter()
	}
}

// counter reads "bus.Name" or "replica.Name" from replica i's metrics.
func (s *conformance) counter(i int, name string) uint64 {
	m := s.c.Node(i).Metrics()
	group, field, _ := strings.Cut(name, ".")
	v := reflect.ValueOf(m.Protocol)
	if group == "bus" {
		v = reflect.ValueOf(m.Bus)
	}
	f := v.FieldByName(field)
	if !f.IsValid() {
		s.t.Fatalf("no counter %s", name)
	}
	return f.Uint()
}

// answered records a reply to the session's request.
func (s *conformance) answered(t *testing.T, sent []byte, h *wire.Header, body []byte, result byte) {
	t.Helper()
	if h.Context != (wire.Uint128{Lo: checksumOf(sent).lo, Hi: checksumOf(sent).hi}) || h.Commit != h.Op || h.Op == 0 || h.Timestamp == 0 || !h.Parent.IsZero() {
		t.Fatalf("reply header: %+v", h)
	}
	if !bytes.Equal(body, []byte{result}) {
		t.Fatalf("reply body %v, want [%d]", body, result)
	}
	s.request = h.Request
	s.parent = u(h.Checksum)
	s.lastSent = sent
}

func withFrame(edit func(f *frame)) func(s *conformance) frame {
	return func(s *conformance) frame {
		f := s.next(uint8(kv.OperationPut), putBody("k", "v"))
		edit(&f)
		return f
	}
}

func withRegister(edit func(f *frame)) func(s *conformance) frame {
	return func(s *conformance) frame {
		f := s.register()
		edit(&f)
		return f
	}
}

var conformanceRows = []conformanceRow{
	// Commands, request: a register opens the session.
	{rule: "request/register is answered with its session", frame: func(s *conformance) frame { return s.register() }, want: wantReply, counter: "replica.RequestsReceived",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if h.Operation != wire.OperationRegister || h.Session == 0 || h.Session != h.Op || h.Request != 0 || len(body) != 0 {
				t.Fatalf("register reply: %+v", h)
			}
			s.session, s.request, s.parent = h.Session, 0, u(h.Checksum)
		}},
	{rule: "request/put is answered", frame: func(s *conformance) frame { return s.next(uint8(kv.OperationPut), putBody("k", "v")) }, want: wantReply, counter: "replica.RequestsApplied",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			s.answered(t, sent, h, body, byte(kv.ResultOK))
		}},
	{rule: "request/a second put is answered", frame: func(s *conformance) frame { return s.next(uint8(kv.OperationPut), putBody("k", "w")) }, want: wantReply, counter: "replica.RequestsApplied",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			s.answered(t, sent, h, body, byte(kv.ResultOK))
		}},

	// Validation: each rule closes the connection and counts it.
	{rule: "validation/header checksum mismatch", frame: withFrame(func(f *frame) { f.badChecksum = true }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/protocol not 1", frame: withFrame(func(f *frame) { f.protocol = 2 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/protocol 0", frame: withFrame(func(f *frame) { f.noProtocol = true }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/another cluster", frame: withFrame(func(f *frame) { f.cluster.lo++ }), want: wantClose, counter: "bus.DropWrongCluster"},
	{rule: "validation/size below 256", frame: withRegister(func(f *frame) { f.size = 255 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/size above message_size_max", frame: withRegister(func(f *frame) { f.size = wire.MessageSizeMaxTest + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/command 0 reserved", frame: withRegister(func(f *frame) { f.command = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/command unknown", frame: withRegister(func(f *frame) { f.command = 22 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/reserved byte non-zero", frame: withRegister(func(f *frame) { f.reservedByte = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/replica not below the replica count", frame: func(s *conformance) frame {
		return frame{cluster: s.cluster, command: 1, replica: 3, timestamp: 1}
	}, want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/a field the command does not use", frame: withFrame(func(f *frame) { f.op = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/a field the command requires is zero", frame: withFrame(func(f *frame) { f.client = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/a body where the command has none", frame: func(s *conformance) frame {
		return frame{cluster: s.cluster, command: 1, replica: 1, timestamp: 1, body: make([]byte, 8)}
	}, want: wantClose, counter: "bus.DropInvalid"},
	{rule: "validation/body checksum mismatch", frame: withFrame(func(f *frame) { f.badBodyChecksum = true }), want: wantClose, counter: "bus.DropInvalid"},

	// Commands, request: field rules.
	{rule: "request/register with a session", frame: withRegister(func(f *frame) { f.session = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/register with a request number", frame: withRegister(func(f *frame) { f.request = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/register with a parent", frame: withRegister(func(f *frame) { f.parent = u128{lo: 1} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/register with a body", frame: withRegister(func(f *frame) { f.body = []byte{1} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/session 0 after register", frame: withFrame(func(f *frame) { f.session = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/request 0 after register", frame: withFrame(func(f *frame) { f.request = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation none", frame: withFrame(func(f *frame) { f.operation = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation root", frame: withFrame(func(f *frame) { f.operation = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation noop", frame: withFrame(func(f *frame) { f.operation = 3 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation batch", frame: withFrame(func(f *frame) { f.operation = 5 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation 7 reserved", frame: withFrame(func(f *frame) { f.operation = 7 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "request/operation 127 reserved", frame: withFrame(func(f *frame) { f.operation = 127 }), want: wantClose, counter: "bus.DropInvalid"},

	// Commands: the further rules of peer and server commands. Validation
	// runs before the bus looks at who sent a frame, so each closes any
	// connection.
	{rule: "commands/ping without a timestamp", frame: peerFrame(1, func(f *frame) { f.timestamp = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/pong without a timestamp", frame: peerFrame(2, func(f *frame) { f.timestamp = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare at op 0 that is not the root", frame: peerFrame(4, func(f *frame) { f.op, f.operation = 0, 128 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare with commit not below op", frame: peerFrame(4, func(f *frame) { f.commit = f.op }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare after op 0 without a timestamp", frame: peerFrame(4, func(f *frame) { f.timestamp = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare after op 0 without a parent", frame: peerFrame(4, func(f *frame) { f.parent = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare of operation root after op 0", frame: peerFrame(4, func(f *frame) { f.operation = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/prepare_ok without the prepare's checksum", frame: peerFrame(5, func(f *frame) { f.context = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/reply with commit below op", frame: peerFrame(6, func(f *frame) { f.commit = f.op - 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/reply of operation noop", frame: peerFrame(6, func(f *frame) { f.operation = 3 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/reply with a parent", frame: peerFrame(6, func(f *frame) { f.parent = u128{lo: 1} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/commit without the checksum of its prepare", frame: peerFrame(7, func(f *frame) { f.context = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/start_view_change with an op", frame: peerFrame(8, func(f *frame) { f.op = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/do_view_change with log_view above view", frame: peerFrame(9, func(f *frame) { f.logView = f.view + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/do_view_change with a body not of whole headers", frame: peerFrame(9, func(f *frame) { f.body = make([]byte, 100) }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/do_view_change with a timestamp below op", frame: peerFrame(9, func(f *frame) { f.timestamp = f.op - 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/do_view_change with an anchor and no timestamp", frame: peerFrame(9, func(f *frame) { f.timestamp, f.parent = 0, u128{lo: 1} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/start_view with commit above op", frame: peerFrame(10, func(f *frame) { f.commit = f.op + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/start_view with op_min above op", frame: peerFrame(10, func(f *frame) { f.opMin = f.op + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_start_view with an op", frame: peerFrame(11, func(f *frame) { f.op = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_headers with op_min above op", frame: peerFrame(12, func(f *frame) { f.opMin = f.op + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_prepare with a session", frame: peerFrame(13, func(f *frame) { f.session = 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/headers with a body not of whole headers", frame: peerFrame(14, func(f *frame) { f.body = make([]byte, 300) }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/eviction of an unknown reason", frame: peerFrame(15, func(f *frame) { f.reason = 7 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/eviction too_many_connections naming a client", frame: peerFrame(15, func(f *frame) { f.reason = 5 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/eviction no_session without a client", frame: peerFrame(15, func(f *frame) { f.client = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_reply without an op", frame: peerFrame(16, func(f *frame) { f.op = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_blocks without a body", frame: peerFrame(17, func(f *frame) { f.body = nil }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_blocks with a body not of whole references", frame: peerFrame(17, func(f *frame) { f.body = make([]byte, 25) }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_blocks with more than 64 references", frame: peerFrame(17, func(f *frame) { f.body = make([]byte, 65*24) }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/block without its checksum", frame: peerFrame(18, func(f *frame) { f.context = u128{} }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/request_sync_checkpoint without an op", frame: peerFrame(19, func(f *frame) { f.op = 0 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/sync_checkpoint with a chunk past its size", frame: peerFrame(20, func(f *frame) { f.commit = f.opMin + 1 }), want: wantClose, counter: "bus.DropInvalid"},
	{rule: "commands/redirect without the request's checksum", frame: peerFrame(21, func(f *frame) { f.context = u128{} }), want: wantClose, counter: "bus.DropInvalid"},

	// Requests: what the primary does with a valid request.
	{rule: "requests/outbox_ack from the network", frame: withFrame(func(f *frame) { f.operation = 4 }), want: wantNothing, counter: "replica.DropBadRequest"},
	{rule: "requests/retry of the last request gets the stored reply", frame: func(s *conformance) frame { return frame{raw: s.lastSent} }, want: wantReply, counter: "replica.RepliesResent",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if h.Checksum != (wire.Uint128{Lo: s.parent.lo, Hi: s.parent.hi}) {
				t.Fatalf("retry answered with another reply: %+v", h)
			}
		}},
	{rule: "requests/last request number, other contents", frame: withFrame(func(f *frame) { f.request--; f.body = putBody("x", "y") }), want: wantNothing, counter: "replica.DropStaleRequest"},
	{rule: "requests/request number below the last", frame: withFrame(func(f *frame) { f.request -= 2 }), want: wantNothing, counter: "replica.DropStaleRequest"},
	{rule: "requests/request number skips ahead", frame: withFrame(func(f *frame) { f.request++ }), want: wantNothing, counter: "replica.DropRequestAhead"},
	{rule: "requests/parent is not the last reply", frame: withFrame(func(f *frame) { f.parent.lo ^= 1 }), want: wantNothing, counter: "replica.DropBadParent"},
	{rule: "requests/unknown operation: the kv store answers invalid", frame: withFrame(func(f *frame) { f.operation = 200 }), want: wantReply, counter: "replica.RequestsApplied",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			s.answered(t, sent, h, body, byte(kv.ResultInvalid))
		}},
	{rule: "requests/malformed body: the kv store answers invalid", frame: withFrame(func(f *frame) { f.body = f.body[:3] }), want: wantReply, counter: "replica.RequestsApplied",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			s.answered(t, sent, h, body, byte(kv.ResultInvalid))
		}},
	{rule: "requests/unknown session", frame: func(s *conformance) frame {
		f := s.next(uint8(kv.OperationPut), putBody("k", "v"))
		f.client, f.session, f.request, f.parent = u128{lo: 0xbad}, 999, 1, u128{}
		return f
	}, want: wantEviction, counter: "replica.DropNoSession",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if wire.EvictionReason(h.Reason) != wire.EvictionNoSession || h.Session != 999 {
				t.Fatalf("eviction: %+v", h)
			}
		}},
	{rule: "requests/session above the client's", frame: withFrame(func(f *frame) { f.session += 1000 }), want: wantEviction, counter: "replica.DropNoSession",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if wire.EvictionReason(h.Reason) != wire.EvictionNoSession || h.Session != s.session+1000 {
				t.Fatalf("eviction: %+v", h)
			}
		}},
	{rule: "requests/register again opens a new session", frame: func(s *conformance) frame { return s.register() }, want: wantReply, counter: "replica.RequestsReceived",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if h.Operation != wire.OperationRegister || h.Session <= s.session {
				t.Fatalf("register reply: %+v", h)
			}
			s.first, s.session, s.request, s.parent = s.session, h.Session, 0, u(h.Checksum)
		}},
	{rule: "requests/session below the client's", frame: func(s *conformance) frame {
		f := s.next(uint8(kv.OperationPut), putBody("k", "v"))
		f.session = s.first
		return f
	}, want: wantEviction, counter: "replica.DropNoSession",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if wire.EvictionReason(h.Reason) != wire.EvictionSessionTooLow || h.Session != s.first {
				t.Fatalf("eviction: %+v", h)
			}
		}},

	// Redirect.
	{rule: "redirect/request of an older view to a backup", backup: true, frame: withRegister(func(f *frame) { f.view = 0; f.client = u128{lo: 0x5ca1e} }), want: wantRedirect, counter: "replica.Redirects",
		check: func(t *testing.T, s *conformance, sent []byte, h *wire.Header, body []byte) {
			if h.View != s.view || h.Context != (wire.Uint128{Lo: checksumOf(sent).lo, Hi: checksumOf(sent).hi}) || len(body) != 0 {
				t.Fatalf("redirect: %+v", h)
			}
		}},
	{rule: "redirect/request of the current view to a backup", backup: true, frame: withRegister(func(f *frame) { f.client = u128{lo: 0x5ca1f} }), want: wantNothing, counter: "replica.DropNotPrimary"},
}

// peerFrame returns a valid frame of command (validHeader in wire's tests,
// written out from the table of docs/protocol.md, "Commands") with edit
// applied: the edit breaks one rule.
func peerFrame(command uint8, edit func(f *frame)) func(s *conformance) frame {
	return func(s *conformance) frame {
		sum := u128{lo: 0xabc, hi: 0xdef}
		f := frame{cluster: s.cluster, command: command, replica: 1, view: s.view}
		switch command {
		case 1, 2: // ping, pong
			f.timestamp = 1
		case 4: // prepare
			f.op, f.commit, f.timestamp, f.parent, f.operation = 12, 10, 99, sum, 5
			f.client, f.context, f.session, f.request = u128{lo: 9}, sum, 3, 1
		case 5: // prepare_ok
			f.op, f.context = 12, sum
		case 6: // reply
			f.client, f.context, f.op, f.commit, f.timestamp, f.session, f.request, f.operation = u128{lo: 9}, sum, 12, 12, 99, 3, 1, 128
		case 7: // commit
			f.commit, f.context, f.op, f.timestamp = 10, sum, 12, 99
		case 9: // do_view_change
			f.logView, f.op, f.commit, f.timestamp = f.view, 12, 10, 12
			f.body = make([]byte, 2*256)
		case 10: // start_view
			f.op, f.commit, f.opMin = 12, 10, 11
			f.body = make([]byte, 256)
		case 12: // request_headers
			f.op, f.opMin = 12, 3
		case 13: // request_prepare
			f.op, f.context = 12, sum
		case 14: // headers
			f.body = make([]byte, 256)
		case 15: // eviction
			f.client, f.session, f.reason = u128{lo: 9}, 3, 1
		case 16: // request_reply
			f.client, f.context, f.op = u128{lo: 9}, sum, 12
		case 17: // request_blocks
			f.body = make([]byte, 2*24)
		case 18: // block
			f.op, f.context = 77, sum
			f.body = make([]byte, 4096)
		case 19: // request_sync_checkpoint
			f.op, f.opMin = 960, 4096
		case 20: // sync_checkpoint
			f.op, f.context, f.parent, f.opMin, f.commit = 960, sum, sum, 4096, 100_000
			f.body = make([]byte, 256)
		case 21: // redirect
			f.client, f.context = u128{lo: 9}, sum
		}
		edit(&f)
		return f
	}
}
