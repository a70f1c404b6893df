package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProcessStartRefusesAnotherIdentity: `chronon start` compares the data
// file's replica index, cluster id and replica count with its flags before
// it binds a port or writes a byte. Replica 1 of cluster 0x7 runs on its
// port; each case starts a second process with flags that disagree with a
// data file. Each is refused with exit code 2 and a message naming both
// identities (not "address already in use": nothing was bound, though a
// copy of replica 1's file names the running replica's port), the data
// file it was given is unchanged byte for byte, and the running replica
// still accepts connections.
func TestProcessStartRefusesAnotherIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	files := formatFiles(t, bin, dir, "0x7", 3)
	// A copy of replica 1's file (the running replica locks its own): a
	// start from it would bind replica 1's port, which is in use.
	copy1 := filepath.Join(dir, "r1-copy.chronon")
	raw, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copy1, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	running := startProcess(t, bin, addresses, files[1])
	waitListening(t, running)
	addrs := strings.Split(addresses, ",")

	cases := []struct {
		name  string
		file  string
		flags []string
		want  []string
	}{
		{"replica index, a copy of the running replica's file", copy1, []string{"--addresses=" + addresses, "--replica=2"},
			[]string{"data file is replica 1 of cluster 0x7", "flags say replica 2"}},
		{"replica index, an idle file", files[2], []string{"--addresses=" + addresses, "--replica=0"},
			[]string{"data file is replica 2 of cluster 0x7", "flags say replica 0"}},
		{"cluster id", copy1, []string{"--addresses=" + addresses, "--replica=1", "--cluster=8"},
			[]string{"data file is replica 1 of cluster 0x7", "flags say cluster 0x8"}},
		{"replica count", files[2], []string{"--addresses=" + addresses + "," + addrs[0]},
			[]string{"data file is replica 2 of cluster 0x7 (3 replicas)", "--addresses lists 4 replicas"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := fileDigest(t, tc.file)
			cmd := exec.Command(bin, append(append([]string{"start"}, tc.flags...), tc.file)...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("start was not refused:\n%s", out.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit %v, want code 2:\n%s", err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "address already in use") || strings.Contains(out.String(), "listening") {
				t.Fatalf("refused after binding:\n%s", out.String())
			}
			if fileDigest(t, tc.file) != before {
				t.Fatalf("refused start changed %s", tc.file)
			}
			if !running.Running() {
				t.Fatalf("running replica exited:\n%s", running.Out.String())
			}
			conn, err := net.DialTimeout("tcp", addrs[1], 5*time.Second)
			if err != nil {
				t.Fatalf("running replica no longer accepts: %v", err)
			}
			conn.Close()
		})
	}
}

// TestProcessWarnsOfAnotherCluster: replicas 0 and 1 of one address list
// were formatted for different clusters. Neither can join the other; the
// one that hears the other's messages says so, naming both cluster ids.
func TestProcessWarnsOfAnotherCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	addresses := freeAddresses(t, 3)
	ours := formatFiles(t, bin, filepath.Join(t.TempDir()), "0x7", 3)
	theirs := formatFiles(t, bin, filepath.Join(t.TempDir()), "0x8", 3)
	p0 := startProcess(t, bin, addresses, ours[0])
	startProcess(t, bin, addresses, theirs[1]) // dials replica 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out := p0.Out.String()
		if strings.Contains(out, "bus: messages from another cluster") &&
			strings.Contains(out, "cluster=00000000000000000000000000000007") &&
			strings.Contains(out, "their_cluster=00000000000000000000000000000008") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica 0 did not warn of cluster 0x8:\n%s", p0.Out.String())
}

// waitListening waits until the process says it listens.
func waitListening(t *testing.T, p *process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.Out.String(), "listening on port") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("replica did not start:\n%s", p.Out.String())
}

func fileDigest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
