package bus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/wire"
)

var (
	keyOld = ClusterKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	keyNew = ClusterKey{0: 0xEE, 31: 0x77}
	keyBad = ClusterKey{0: 0xBA, 1: 0xD0}
)

func withKeys(keys ...ClusterKey) func(*Config) {
	return func(c *Config) { c.ClusterKeys = keys }
}

func validAuthBodies() map[string][]byte {
	hello := peerAuth{step: authHello, keyCount: 2, nonce: [nonceSize]byte{1}}
	hello.keyIDs[0], hello.keyIDs[1] = [keyIDSize]byte{9}, [keyIDSize]byte{8}
	challenge := peerAuth{step: authChallenge, keyCount: 1, nonce: [nonceSize]byte{2}, mac: [macSize]byte{3}}
	challenge.keyIDs[0] = [keyIDSize]byte{9}
	proof := peerAuth{step: authProof, mac: [macSize]byte{4}}
	out := map[string][]byte{}
	for name, a := range map[string]peerAuth{"hello": hello, "challenge": challenge, "proof": proof} {
		b := make([]byte, wire.PeerAuthBodySize)
		a.encode(b)
		out[name] = b
	}
	return out
}

// TestDecodePeerAuth: the three steps decode and re-encode unchanged; every
// field a step does not use must be zero, every field it needs non-zero.
func TestDecodePeerAuth(t *testing.T) {
	bodies := validAuthBodies()
	for name, b := range bodies {
		var a peerAuth
		if err := decodePeerAuth(b, &a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again := make([]byte, len(b))
		a.encode(again)
		if !bytes.Equal(again, b) {
			t.Fatalf("%s: re-encoded differently", name)
		}
	}
	cases := []struct {
		name, step string
		mutate     func(b []byte)
		want       error
	}{
		{"unknown step", "hello", func(b []byte) { b[authOffsetStep] = 4 }, errAuthStep},
		{"step 0", "proof", func(b []byte) { b[authOffsetStep] = 0 }, errAuthStep},
		{"hello without keys", "hello", func(b []byte) { b[authOffsetKeyCount] = 0 }, errAuthKeyCount},
		{"hello with 5 keys", "hello", func(b []byte) { b[authOffsetKeyCount] = 5 }, errAuthKeyCount},
		{"hello with a MAC", "hello", func(b []byte) { b[authOffsetMAC] = 1 }, errAuthUnused},
		{"hello without a nonce", "hello", func(b []byte) { clear(b[authOffsetNonce:authOffsetMAC]) }, errAuthMissing},
		{"hello with an id beyond its count", "hello", func(b []byte) { b[authOffsetKeyIDs+2*keyIDSize] = 1 }, errAuthUnused},
		{"challenge with 2 keys", "challenge", func(b []byte) { b[authOffsetKeyCount] = 2 }, errAuthKeyCount},
		{"challenge without a MAC", "challenge", func(b []byte) { clear(b[authOffsetMAC:authOffsetEnd]) }, errAuthMissing},
		{"proof with a nonce", "proof", func(b []byte) { b[authOffsetNonce+5] = 1 }, errAuthUnused},
		{"proof with a key", "proof", func(b []byte) { b[authOffsetKeyCount] = 1 }, errAuthKeyCount},
		{"proof with a key id", "proof", func(b []byte) { b[authOffsetKeyIDs] = 1 }, errAuthUnused},
		{"reserved after the count", "proof", func(b []byte) { b[authOffsetKeyCount+1] = 1 }, errAuthUnused},
		{"reserved at the end", "challenge", func(b []byte) { b[wire.PeerAuthBodySize-1] = 1 }, errAuthUnused},
	}
	for _, tc := range cases {
		b := append([]byte(nil), bodies[tc.step]...)
		tc.mutate(b)
		var a peerAuth
		if err := decodePeerAuth(b, &a); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	var a peerAuth
	if err := decodePeerAuth(bodies["proof"][:100], &a); err == nil {
		t.Error("a short body decoded")
	}
}

// FuzzDecodePeerAuth: decoding any bytes returns an error or a body that
// encodes back to the same bytes; it never panics.
func FuzzDecodePeerAuth(f *testing.F) {
	for _, b := range validAuthBodies() {
		f.Add(b)
	}
	f.Add(make([]byte, wire.PeerAuthBodySize))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a peerAuth
		if err := decodePeerAuth(b, &a); err != nil {
			return
		}
		again := make([]byte, wire.PeerAuthBodySize)
		a.encode(again)
		if !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, encodes to %x", b, again)
		}
	})
}

func TestParseClusterKeys(t *testing.T) {
	const a = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	const b = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100"
	keys, err := ParseClusterKeys([]byte("# current first\n" + a + "\n\n  " + b + "  \n"))
	if err != nil || len(keys) != 2 || keys[0][1] != 1 || keys[1][0] != 0xFF {
		t.Fatalf("got %d keys, %v", len(keys), err)
	}
	for name, text := range map[string]string{
		"empty":     "# nothing\n",
		"short":     a[:62] + "\n",
		"long":      a + "00\n",
		"not hex":   strings.Replace(a, "0a", "zz", 1),
		"zero":      strings.Repeat("0", 64),
		"twice":     a + "\n" + a,
		"five keys": strings.Repeat(a[:62], 0) + a + "\n" + b + "\n" + strings.Repeat("1", 64) + "\n" + strings.Repeat("2", 64) + "\n" + strings.Repeat("3", 64),
	} {
		_, err := ParseClusterKeys([]byte(text))
		if !errors.Is(err, ErrClusterKeys) {
			t.Errorf("%s: %v, want ErrClusterKeys", name, err)
			continue
		}
		if strings.Contains(err.Error(), "0102030405") || strings.Contains(err.Error(), "zz") {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
}

// TestBusPeersAuthenticate: replicas holding the cluster key form the full
// mesh through the handshake and exchange messages; nothing fails.
func TestBusPeersAuthenticate(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nodes := startNodes(t, 3, backend, withKeys(keyOld))
			runUntil(t, nodes, "full mesh", func() bool { return allConnected(nodes) })
			m := sealedMessage(t, nodes[2].pool, prepareHeader(2, 1), []byte("authenticated"))
			nodes[2].bus.SendToReplica(0, m)
			nodes[2].bus.SendToReplica(1, m)
			m.Unref()
			runUntil(t, nodes, "delivery", func() bool {
				return count(nodes[0].rec, wire.CommandPrepare) == 1 && count(nodes[1].rec, wire.CommandPrepare) == 1
			})
			for i, nd := range nodes {
				if nd.bus.Counters.AuthFailed != 0 {
					t.Fatalf("replica %d: %d authentication failures", i, nd.bus.Counters.AuthFailed)
				}
				for _, r := range nd.rec.got {
					if r.header.Command == wire.CommandPeerAuth {
						t.Fatalf("replica %d's handler got a peer_auth", i)
					}
				}
			}
		})
	}
}

// TestBusKeyRotation: during a rotation some replicas hold only the old
// key and others the new and the old (in either order); every pair finds
// a key in common and connects. Replicas with no key in common never do,
// and the acceptor counts the failures.
func TestBusKeyRotation(t *testing.T) {
	keys := [][]ClusterKey{{keyOld}, {keyNew, keyOld}, {keyOld, keyNew}}
	var nodes []*node
	addrs := []string{"127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:1"}
	for i := range 3 {
		addrs[i] = "127.0.0.1:0"
		nd := startNode(t, 3, uint8(i), append([]string(nil), addrs...), backends[0], withKeys(keys[i]...))
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
		nodes = append(nodes, nd)
	}
	runUntil(t, nodes, "full mesh during a rotation", func() bool { return allConnected(nodes) })

	n0 := startNode(t, 2, 0, []string{"127.0.0.1:0", "127.0.0.1:1"}, backends[0], withKeys(keyNew))
	n1 := startNode(t, 2, 1, []string{fmt.Sprintf("127.0.0.1:%d", n0.bus.Port()), "127.0.0.1:0"}, backends[0], withKeys(keyOld))
	pair := []*node{n0, n1}
	runUntil(t, pair, "failed handshakes", func() bool { return n0.bus.Counters.AuthFailed >= 3 })
	if n0.bus.Connected(1) || n1.bus.Connected(0) {
		t.Fatal("replicas without a key in common connected")
	}
}

// rogue is a connection to a replica that claims to be one.
type rogue struct {
	conn net.Conn
	cfg  wire.Config
	got  <-chan readResult
}

func dialRogue(t *testing.T, address string, cfg wire.Config) *rogue {
	t.Helper()
	conn := dialFrom(t, "", address)
	return &rogue{conn: conn, cfg: cfg}
}

func (r *rogue) send(t *testing.T, h wire.Header, body []byte) {
	t.Helper()
	h.Cluster, h.Protocol, h.Size = r.cfg.Cluster, wire.ProtocolVersion, uint32(wire.HeaderSize+len(body))
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	if _, err := r.conn.Write(msg); err != nil {
		t.Fatal(err)
	}
}

func authBody(a peerAuth) []byte {
	b := make([]byte, wire.PeerAuthBodySize)
	a.encode(b)
	return b
}

// messages splits what a connection received into messages.
func messages(t *testing.T, b []byte, cfg *wire.Config) []wire.Header {
	t.Helper()
	var out []wire.Header
	for len(b) >= wire.HeaderSize {
		var h wire.Header
		if err := wire.DecodeHeader(b[:wire.HeaderSize], &h, cfg); err != nil || int(h.Size) > len(b) {
			t.Fatalf("received bytes that are not messages: %v", err)
		}
		out = append(out, h)
		b = b[h.Size:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes of a partial message", len(b))
	}
	return out
}

// TestBusRefusesRoguePeers: against a replica holding the cluster key, a
// connection claiming to be a replica with no key (a plain hello), with
// key ids it cannot back, with a proof under a wrong key, with the
// replica's own challenge reflected, or with a legitimate handshake
// replayed, is closed and counted; it receives nothing but the challenge,
// while the replica sends to that replica index all along.
func TestBusRefusesRoguePeers(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.String(), func(t *testing.T) {
			nd := startNode(t, 3, 0, []string{"127.0.0.1:0", "127.0.0.1:1", "127.0.0.1:1"}, backend, withKeys(keyOld))
			var logged bytes.Buffer
			nd.bus.cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			nodes := []*node{nd}
			address := fmt.Sprintf("127.0.0.1:%d", nd.bus.Port())
			cfg := nd.bus.cfg.Wire
			good, _ := newAuthKeys([]ClusterKey{keyOld})
			bad, _ := newAuthKeys([]ClusterKey{keyBad})
			hello := func(keys *authKeys, nonce byte) peerAuth {
				a := peerAuth{step: authHello, keyCount: 1, nonce: [nonceSize]byte{nonce, 1}}
				a.keyIDs[0] = keys.ids[0]
				return a
			}
			// challenge waits for the replica's challenge on r.
			challenge := func(r *rogue) peerAuth {
				t.Helper()
				head := make([]byte, wire.HeaderSize+wire.PeerAuthBodySize)
				done := make(chan error, 1)
				go func() {
					_ = r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, err := io.ReadFull(r.conn, head)
					done <- err
				}()
				var err error
				runUntil(t, nodes, "the challenge", func() bool {
					select {
					case err = <-done:
						return true
					default:
						return false
					}
				})
				var h wire.Header
				var a peerAuth
				if err != nil || wire.DecodeHeader(head[:wire.HeaderSize], &h, &cfg) != nil || h.Command != wire.CommandPeerAuth ||
					decodePeerAuth(head[wire.HeaderSize:], &a) != nil || a.step != authChallenge {
					t.Fatalf("no challenge: %v, %+v", err, h)
				}
				r.got = readAll(r.conn) // the rest
				return a
			}
			attempts := []struct {
				name string
				run  func(r *rogue)
			}{
				{"plain hello", func(r *rogue) {
					r.send(t, wire.Header{Command: wire.CommandPing, Replica: 1, Timestamp: 1}, nil)
				}},
				{"unknown key", func(r *rogue) {
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 1}, authBody(hello(bad, 1)))
				}},
				{"proof under a wrong key", func(r *rogue) {
					h := hello(good, 2) // a key id seen on the wire
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(h))
					c := challenge(r)
					var wrong authKeys = *bad
					wrong.ids = good.ids
					proof := peerAuth{step: authProof, mac: wrong.mac(0, authProof, cfg.Cluster, 2, 0, &h.nonce, &c.nonce)}
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(proof))
				}},
				{"challenge reflected", func(r *rogue) {
					h := hello(good, 3)
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 1}, authBody(h))
					c := challenge(r)
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 1}, authBody(peerAuth{step: authProof, mac: c.mac}))
				}},
				{"a request after the hello", func(r *rogue) {
					r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 1}, authBody(hello(good, 4)))
					challenge(r)
					r.send(t, wire.Header{Command: wire.CommandPrepareOK, Replica: 1, Op: 1, Context: wire.Uint128{Lo: 1}}, nil)
				}},
			}
			// A legitimate handshake (the test holds the key), recorded.
			legit := dialRogue(t, address, cfg)
			h := hello(good, 5)
			legit.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(h))
			c := challenge(legit)
			proof := peerAuth{step: authProof, mac: good.mac(0, authProof, cfg.Cluster, 2, 0, &h.nonce, &c.nonce)}
			legit.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(proof))
			runUntil(t, nodes, "the legitimate peer bound", func() bool { return nd.bus.Connected(2) })
			legit.conn.Close()
			runUntil(t, nodes, "the legitimate peer gone", func() bool { return !nd.bus.Connected(2) })
			attempts = append(attempts, struct {
				name string
				run  func(r *rogue)
			}{"handshake replayed", func(r *rogue) {
				r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(h))
				challenge(r)
				r.send(t, wire.Header{Command: wire.CommandPeerAuth, Replica: 2}, authBody(proof))
			}})

			for i, attempt := range attempts {
				failed := nd.bus.Counters.AuthFailed
				r := dialRogue(t, address, cfg)
				attempt.run(r)
				if r.got == nil {
					r.got = readAll(r.conn)
				}
				// The replica keeps sending to both peers' indexes.
				for peer := uint8(1); peer <= 2; peer++ {
					m := sealedMessage(t, nd.pool, prepareHeader(0, uint64(i+1)), []byte("for replicas only"))
					nd.bus.SendToReplica(peer, m)
					m.Unref()
				}
				var res readResult
				runUntil(t, nodes, attempt.name+": closed", ended(r.got, &res))
				if got := messages(t, res.got, &cfg); len(got) != 0 {
					t.Fatalf("%s: the rogue received %d messages after the handshake: %+v", attempt.name, len(got), got[0])
				}
				wantFailures := uint64(1)
				if attempt.name == "a request after the hello" {
					wantFailures = 0 // closed as a wrong sender
				}
				if nd.bus.Counters.AuthFailed != failed+wantFailures || nd.bus.Connected(1) || nd.bus.Connected(2) {
					t.Fatalf("%s: authentication failures %d -> %d, connected %v %v", attempt.name, failed, nd.bus.Counters.AuthFailed, nd.bus.Connected(1), nd.bus.Connected(2))
				}
			}
			if nd.rec.got != nil {
				for _, r := range nd.rec.got {
					if r.header.Command != wire.CommandPing {
						t.Fatalf("the handler got a %v from a rogue", r.header.Command)
					}
				}
			}
			runUntil(t, nodes, "logged", func() bool { return strings.Contains(logged.String(), "authentication failed") })
		})
	}
}

// TestBusWithoutKeysRefusesAuthentication: a replica without keys closes a
// connection that offers authentication (the cluster's keys are
// misconfigured), counted.
func TestBusWithoutKeysRefusesAuthentication(t *testing.T) {
	n0 := startNode(t, 2, 0, []string{"127.0.0.1:0", "127.0.0.1:1"}, backends[0])
	n1 := startNode(t, 2, 1, []string{fmt.Sprintf("127.0.0.1:%d", n0.bus.Port()), "127.0.0.1:0"}, backends[0], withKeys(keyOld))
	pair := []*node{n0, n1}
	runUntil(t, pair, "failed handshakes", func() bool { return n0.bus.Counters.AuthFailed >= 2 })
	if n0.bus.Connected(1) || n1.bus.Connected(0) {
		t.Fatal("a replica without a key and one with a key connected")
	}
}

// TestBusDiallerSendsNothingToAnUnprovenAcceptor: a replica dialling a
// peer's address reached by an impostor (it answers the hello with a
// challenge under a wrong key, or not at all) sends it only its hello,
// while it has messages for that peer; the bad challenge counts as an
// authentication failure, the silence as a handshake timeout, and it
// redials.
func TestBusDiallerSendsNothingToAnUnprovenAcceptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nd := startNode(t, 2, 1, []string{ln.Addr().String(), "127.0.0.1:0"}, backends[0], withKeys(keyOld), func(c *Config) {
		c.HandshakeTimeoutTicks = 20
	})
	nodes := []*node{nd}
	cfg := nd.bus.cfg.Wire
	bad, _ := newAuthKeys([]ClusterKey{keyBad})
	good, _ := newAuthKeys([]ClusterKey{keyOld})
	type accepted struct {
		got []byte
		err error
	}
	serve := func(answer bool) <-chan accepted {
		done := make(chan accepted, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				done <- accepted{err: err}
				return
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			hello := make([]byte, wire.HeaderSize+wire.PeerAuthBodySize)
			if _, err := io.ReadFull(conn, hello); err != nil {
				done <- accepted{err: err}
				return
			}
			if answer {
				var a peerAuth
				if err := decodePeerAuth(hello[wire.HeaderSize:], &a); err != nil {
					done <- accepted{err: err}
					return
				}
				c := peerAuth{step: authChallenge, keyCount: 1, nonce: [nonceSize]byte{7}}
				c.keyIDs[0] = good.ids[0]
				wrong := *bad
				wrong.ids = good.ids
				c.mac = wrong.mac(0, authChallenge, cfg.Cluster, 1, 0, &a.nonce, &c.nonce)
				h := wire.Header{Cluster: cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandPeerAuth, Size: wire.HeaderSize + wire.PeerAuthBodySize}
				msg := make([]byte, h.Size)
				c.encode(msg[wire.HeaderSize:])
				wire.Seal(&h, msg)
				if _, err := conn.Write(msg); err != nil {
					done <- accepted{err: err}
					return
				}
			}
			rest, err := io.ReadAll(conn)
			done <- accepted{got: append(hello, rest...), err: err}
		}()
		return done
	}
	for _, answer := range []bool{true, false} {
		done := serve(answer)
		var r accepted
		runUntil(t, nodes, "the impostor's connection ends", func() bool {
			m := sealedMessage(t, nd.pool, prepareHeader(1, 1), []byte("for replica 0 only"))
			nd.bus.SendToReplica(0, m)
			m.Unref()
			select {
			case r = <-done:
				return true
			default:
				return false
			}
		})
		if r.err != nil {
			t.Fatalf("answer %v: %v", answer, r.err)
		}
		got := messages(t, r.got, &cfg)
		if len(got) != 1 || got[0].Command != wire.CommandPeerAuth {
			t.Fatalf("answer %v: the impostor received %d messages (%+v), want only the hello", answer, len(got), got)
		}
	}
	c := nd.bus.Counters
	if c.AuthFailed != 1 || c.TimeoutHandshake != 1 || c.DropNoRoute == 0 || nd.bus.Connected(0) {
		t.Fatalf("authentication failures %d, handshake timeouts %d, unroutable %d", c.AuthFailed, c.TimeoutHandshake, c.DropNoRoute)
	}
}
