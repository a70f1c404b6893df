package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartReadsClusterKeys: a key file gives its keys in order; a file
// others can read gets a warning; a malformed one is refused by start
// (exit 2) with a message naming the file and line, never the key.
func TestStartReadsClusterKeys(t *testing.T) {
	dir := t.TempDir()
	const current = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	const previous = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	path := filepath.Join(dir, "keys")
	if err := os.WriteFile(path, []byte("# rotation: new first\n"+current+"\n"+previous+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	keys, err := readClusterKeys(path, &stderr)
	if err != nil || len(keys) != 2 || keys[0][1] != 0x11 || keys[1][0] != 0xFF || stderr.Len() != 0 {
		t.Fatalf("keys %d, %v, stderr %q", len(keys), err, stderr.String())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readClusterKeys(path, &stderr); err != nil || !strings.Contains(stderr.String(), "readable by others") {
		t.Fatalf("%v, stderr %q", err, stderr.String())
	}

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(current[:60]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "r0.chronon")
	var out bytes.Buffer
	if code := run([]string{"format", "--cluster=7", "--replica=0", "--replica-count=1", "--preset=test", data}, &out, &out); code != 0 {
		t.Fatalf("format: %d: %s", code, out.String())
	}
	stderr.Reset()
	code := run([]string{"start", "--addresses=127.0.0.1:0", "--cluster-key-file=" + bad, data}, &out, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "line 1") || !strings.Contains(stderr.String(), bad) || strings.Contains(stderr.String(), current[:16]) {
		t.Fatalf("start with a malformed key file: exit %d, %q", code, stderr.String())
	}
}

// TestStartTLSFlagsGoTogether: a TLS address without a certificate and
// key (or the reverse) is a usage error.
func TestStartTLSFlagsGoTogether(t *testing.T) {
	for _, flags := range [][]string{{"--client-tls-address=127.0.0.1:0"}, {"--client-tls-cert=c", "--client-tls-key=k"}} {
		var out, stderr bytes.Buffer
		args := append([]string{"start", "--addresses=127.0.0.1:0"}, flags...)
		if code := run(append(args, "nowhere.chronon"), &out, &stderr); code != 2 || !strings.Contains(stderr.String(), "go together") {
			t.Fatalf("%v: exit %d, %q", flags, code, stderr.String())
		}
	}
}
