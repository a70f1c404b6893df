package chaos

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Process is one `chronon start` child process (one incarnation of a
// replica: a restart is a new Process).
type Process struct {
	Cmd *exec.Cmd
	// Out collects the process's stdout and stderr.
	Out *SyncBuffer

	mu      sync.Mutex
	exited  bool
	stopped bool
	done    chan struct{}
	err     error
}

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartProcess runs `bin start --addresses=… --status-interval=50ms
// extra… file` and collects its output. Reap it with Wait (or Kill).
func StartProcess(bin, addresses, file string, extra ...string) (*Process, error) {
	return StartProcessTo(nil, bin, addresses, file, extra...)
}

// StartProcessTo is StartProcess that also copies the output to w (if not
// nil).
func StartProcessTo(w io.Writer, bin, addresses, file string, extra ...string) (*Process, error) {
	p := &Process{Out: &SyncBuffer{}, done: make(chan struct{})}
	args := append([]string{"start", "--addresses=" + addresses, "--status-interval=50ms"}, extra...)
	p.Cmd = exec.Command(bin, append(args, file)...)
	var out io.Writer = p.Out
	if w != nil {
		out = io.MultiWriter(p.Out, w)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = out, out
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start %s: %w", file, err)
	}
	go func() {
		err := p.Cmd.Wait()
		p.mu.Lock()
		p.exited, p.err = true, err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Signal sends sig to the process (a no-op once it has exited).
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
	return p.Cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (a paused process is killed too) and waits for the
// exit.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Wait waits for the process to exit and returns its exit error.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Running reports whether the process has not exited and is not paused
// with SIGSTOP.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exited && !p.stopped
}

// FormatFiles formats n data files of a cluster in dir with `bin format`
// and returns their paths (r0.chronon …).
func FormatFiles(bin, dir, cluster, preset string, n int) ([]string, error) {
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("r%d.chronon", i))
		out, err := exec.Command(bin, "format", "--cluster="+cluster, fmt.Sprintf("--replica=%d", i),
			fmt.Sprintf("--replica-count=%d", n), "--preset="+preset, files[i]).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("chaos: format %s: %w\n%s", files[i], err, out)
		}
	}
	return files, nil
}

// FreeAddresses returns n loopback addresses that were free a moment ago,
// comma-separated. Their ports are below the kernel's ephemeral range when
// it leaves room: a port from that range can be taken, while its replica
// is down, as the local port of any outgoing connection (a peer
// reconnecting to that very replica), and the replica's restart would then
// fail to listen.
func FreeAddresses(n int) (string, error) {
	addrs := make([]string, 0, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	lo := ephemeralLow()
	for draws := 0; len(ls) < n; draws++ {
		addr := "127.0.0.1:0"
		if lo >= 2*fixedPortsMin && draws < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", fixedPortsMin+rand.IntN(lo-fixedPortsMin))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: draw another
			}
			return "", fmt.Errorf("chaos: free address: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return strings.Join(addrs, ","), nil
}

// fixedPortsMin is the lowest port FreeAddresses draws.
const fixedPortsMin = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux), 0 when unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 0 || lo > hi {
		return 0
	}
	return lo
}
