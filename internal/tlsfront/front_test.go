package tlsfront

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/cluster"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// selfSigned returns a server certificate for 127.0.0.1 and a client
// config that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "chronon test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func newLedger(*outbox.Emitter) statemachine.StateMachine {
	l, err := ledger.New(ledger.Config{AccountsMax: 256, TransfersMax: 4096})
	if err != nil {
		panic(err)
	}
	return l
}

// startFront starts a one-replica test-preset cluster and a TLS front for
// it.
func startFront(t testing.TB, cfg Config) (*cluster.Cluster, *Front, *tls.Config) {
	t.Helper()
	c, err := cluster.Start(cluster.Config{Replicas: 1, Dir: t.TempDir(), NewStateMachine: newLedger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Stop() })
	cert, clientTLS := selfSigned(t)
	cfg.Listen, cfg.Backend, cfg.TLS = "127.0.0.1:0", c.Addresses()[0], &tls.Config{Certificates: []tls.Certificate{cert}}
	if cfg.ConnectionsMax == 0 {
		cfg.ConnectionsMax = 16
	}
	f, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return c, f, clientTLS
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClientOverTLS: a client with a TLS config registers and commits
// through the front, while a plaintext client uses the replica's own port
// as before; a plaintext client at the TLS port fails its handshake
// (counted) and never reaches the replica.
func TestClientOverTLS(t *testing.T) {
	c, f, clientTLS := startFront(t, Config{HandshakeTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := c.ClientConfig()
	cfg.Addresses, cfg.TLS = []string{f.Addr()}, clientTLS
	secure, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	if failed, err := secure.CreateAccounts(ctx, []ledger.Account{{ID: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}}); err != nil || len(failed) != 0 {
		t.Fatalf("create over TLS: %v %v", failed, err)
	}
	plain, err := client.Dial(ctx, c.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	got, err := plain.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}})
	if err != nil || len(got) != 1 {
		t.Fatalf("plaintext lookup of the account created over TLS: %v %v", got, err)
	}
	if f.Counters.Relayed.Load() != 1 {
		t.Fatalf("relayed %d connections", f.Counters.Relayed.Load())
	}

	wrong := c.ClientConfig()
	wrong.Addresses = []string{f.Addr()}
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort()
	// The replica publishes its metrics every tick: wait for the two
	// connections so far (the relayed one and the plaintext client's).
	waitFor(t, "two connections accepted", func() bool { return c.Node(0).Metrics().Bus.Accepted == 2 })
	if cl, err := client.Dial(short, wrong); err == nil {
		cl.Close()
		t.Fatal("a plaintext client registered through the TLS port")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("plaintext Dial at the TLS port: %v", err)
	}
	waitFor(t, "failed handshakes counted", func() bool { return f.Counters.HandshakeFailed.Load() > 0 })
	if got := c.Node(0).Metrics().Bus.Accepted; got != 2 || f.Counters.Relayed.Load() != 1 {
		t.Fatalf("the replica accepted %d connections, the front relayed %d, for a client that failed the TLS handshake", got-2, f.Counters.Relayed.Load()-1)
	}
}

// TestSilentTLSConnectionsTakeNoReplicaSlot: connections to the front that
// never complete a handshake or never send a byte are closed at the
// handshake deadline without a connection to the replica; beyond
// ConnectionsMax they are refused at accept.
func TestSilentTLSConnectionsTakeNoReplicaSlot(t *testing.T) {
	c, f, clientTLS := startFront(t, Config{ConnectionsMax: 8, HandshakeTimeout: 300 * time.Millisecond})
	accepted := c.Node(0).Metrics().Bus.Accepted
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		conn, err := net.Dial("tcp", f.Addr()) // no handshake
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	for range 4 {
		conn, err := tls.Dial("tcp", f.Addr(), clientTLS) // a handshake, then silence
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	waitFor(t, "8 connections admitted", func() bool { return f.Counters.Accepted.Load() == 8 })
	extra, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitFor(t, "the 9th refused", func() bool { return f.Counters.Refused.Load() == 1 })
	waitFor(t, "the silent ones closed at the deadline", func() bool { return f.Counters.HandshakeFailed.Load() == 8 })
	if got := c.Node(0).Metrics().Bus.Accepted; got != accepted || f.Counters.Relayed.Load() != 0 {
		t.Fatalf("the replica accepted %d connections, the front relayed %d", got-accepted, f.Counters.Relayed.Load())
	}
}

// BenchmarkRoundTrip measures one lookup round trip through the Go client,
// over plaintext and over TLS (the cost of the front: the TLS records and
// the relay's extra hop on loopback).
func BenchmarkRoundTrip(b *testing.B) {
	c, f, clientTLS := startFront(b, Config{})
	for _, secure := range []bool{false, true} {
		name := "plaintext"
		cfg := c.ClientConfig()
		if secure {
			name = "tls"
			cfg.Addresses, cfg.TLS = []string{f.Addr()}, clientTLS
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			cl, err := client.Dial(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ids := []wire.Uint128{{Lo: 1}}
			b.ResetTimer()
			for b.Loop() {
				if _, err := cl.LookupAccounts(ctx, ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
