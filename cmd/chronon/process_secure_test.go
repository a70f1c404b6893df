package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// writeCertificate writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files in dir, and returns their paths and a client config
// that trusts the certificate.
func writeCertificate(t *testing.T, dir string) (string, string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chronon test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "replica.crt"), filepath.Join(dir, "replica.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestProcessesWithClusterKeysAndTLS runs three `chronon start` processes
// that authenticate each other with a cluster key file and serve clients
// over TLS on a second port each: they form the cluster, a TLS client
// commits through them, and no process logs the key or an authentication
// failure.
func TestProcessesWithClusterKeysAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	tlsAddresses := strings.Split(freeAddresses(t, 3), ",")
	files := formatFiles(t, bin, dir, "0x5eed", 3)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, certKeyFile, clientTLS := writeCertificate(t, dir)
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = startProcess(t, bin, addresses, files[i], "--cluster-key-file="+keyFile, "--status-interval=100ms",
			"--client-tls-address="+tlsAddresses[i], "--client-tls-cert="+certFile, "--client-tls-key="+certKeyFile)
	}
	for _, p := range procs {
		waitStatus(t, p, 0, 2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{
		Cluster: wire.Uint128{Lo: 0x5eed}, Addresses: tlsAddresses, MessageSizeMax: wire.MessageSizeMaxTest, TLS: clientTLS,
	})
	if err != nil {
		t.Fatalf("dial over TLS: %v\n%s", err, procs[0].Out.String())
	}
	defer cl.Close()
	if failed, err := cl.CreateAccounts(ctx, []ledger.Account{{ID: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}}); err != nil || len(failed) != 0 {
		t.Fatalf("create over TLS: %v %v", failed, err)
	}
	cl.Close()
	stopAll(t, procs)
	for i, p := range procs {
		out := p.Out.String()
		if strings.Contains(out, hex.EncodeToString(key)[:16]) || strings.Contains(out, "authentication failed") ||
			strings.Contains(out, "do not authenticate") || !strings.Contains(out, "serving TLS clients") {
			t.Fatalf("replica %d's output:\n%s", i, out)
		}
	}
}
