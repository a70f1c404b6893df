package chaos

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// cluster is the set of replica processes and every log they wrote.
type cluster struct {
	bin       string
	addresses string
	files     []string
	extra     []string
	procs     []*Process
	// logs holds every incarnation's output, by replica, for the panic scan.
	logs [][]*SyncBuffer
	// killed marks processes this run killed on purpose.
	killed map[*Process]bool
}

func (c *cluster) start(i int) error {
	// Every incarnation's output also goes to a file beside the data file.
	f, err := os.Create(fmt.Sprintf("%s.%d.log", c.files[i], len(c.logs[i])))
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	p, err := StartProcessTo(f, c.bin, c.addresses, c.files[i], c.extra...)
	if err != nil {
		f.Close()
		return err
	}
	go func() {
		<-p.done
		f.Close()
	}()
	c.procs[i] = p
	c.logs[i] = append(c.logs[i], p.Out)
	return nil
}

// kill sends SIGKILL to every victim at once, then waits for them all.
func (c *cluster) kill(victims ...int) {
	for _, i := range victims {
		c.killed[c.procs[i]] = true
		_ = c.procs[i].Signal(syscall.SIGKILL)
	}
	for _, i := range victims {
		c.procs[i].Kill()
	}
}

func (c *cluster) signal(i int, sig syscall.Signal) error {
	if err := c.procs[i].Signal(sig); err != nil {
		return fmt.Errorf("chaos: signal %v to replica %d: %w", sig, i, err)
	}
	return nil
}

// statuses returns the last status of every replica process that runs.
func (c *cluster) statuses() []*Status {
	out := make([]*Status, len(c.procs))
	for i, p := range c.procs {
		if p == nil || !p.Running() {
			continue
		}
		if s, ok := LastStatus(p.Out.String()); ok {
			out[i] = &s
		}
	}
	return out
}

// commitSlack is how far behind the most advanced replica a replica may be
// and still count as caught up.
const commitSlack = 32

// healthy reports whether every replica runs, is in status normal in the
// same view with all peers connected and close to the others' commits, and
// returns the primary. Otherwise it says why not.
func (c *cluster) healthy() (primary int, why string) {
	primary = -1
	var view uint32
	var lo, hi uint64
	for i, s := range c.statuses() {
		switch {
		case s == nil:
			return -1, fmt.Sprintf("replica %d not running or no status yet", i)
		case s.Status != "normal" || s.Rejoining:
			return -1, fmt.Sprintf("replica %d: status %s, rejoining %v", i, s.Status, s.Rejoining)
		case s.Peers != len(c.procs)-1:
			return -1, fmt.Sprintf("replica %d: %d peers connected", i, s.Peers)
		case i > 0 && s.View != view:
			return -1, fmt.Sprintf("replica %d in view %d, replica 0 in view %d", i, s.View, view)
		}
		view = s.View
		if i == 0 || s.CommitMin < lo {
			lo = s.CommitMin
		}
		hi = max(hi, s.CommitMin)
		if s.Primary {
			primary = i
		}
	}
	if primary < 0 {
		return -1, "no primary"
	}
	if hi-lo > commitSlack {
		return -1, fmt.Sprintf("commits from %d to %d", lo, hi)
	}
	return primary, ""
}

// converged reports whether every replica runs in status normal in the
// same view, has committed everything it knows of, and all agree on the
// commit number, commit checksum and state digest.
func (c *cluster) converged() (Status, string) {
	var ref *Status
	for i, s := range c.statuses() {
		switch {
		case s == nil:
			return Status{}, fmt.Sprintf("replica %d not running or no status yet", i)
		case s.Status != "normal":
			return Status{}, fmt.Sprintf("replica %d: status %s", i, s.Status)
		case s.CommitMin != s.CommitMax || s.CommitMin != s.Op:
			return Status{}, fmt.Sprintf("replica %d: op %d commit_min %d commit_max %d", i, s.Op, s.CommitMin, s.CommitMax)
		case ref != nil && (s.View != ref.View || s.CommitMin != ref.CommitMin || s.CommitChecksum != ref.CommitChecksum || s.Digest != ref.Digest):
			return Status{}, fmt.Sprintf("replica %d: view %d commit %d checksum %s digest %s; replica 0: view %d commit %d checksum %s digest %s",
				i, s.View, s.CommitMin, s.CommitChecksum, s.Digest, ref.View, ref.CommitMin, ref.CommitChecksum, ref.Digest)
		}
		if ref == nil {
			ref = s
		}
	}
	return *ref, ""
}

// waitFor polls cond every 20 ms until it returns "" or deadline passes,
// and returns the last reason.
func waitFor(deadline time.Duration, cond func() string) string {
	end := time.Now().Add(deadline)
	for {
		why := cond()
		if why == "" || time.Now().After(end) {
			return why
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// panics returns, per replica, the log lines (with context) of every
// incarnation that mention a panic.
func (c *cluster) panics() []string {
	var out []string
	for i, logs := range c.logs {
		for k, b := range logs {
			log := b.String()
			idx := strings.Index(log, "panic")
			if idx < 0 {
				continue
			}
			start := strings.LastIndexByte(log[:idx], '\n') + 1
			end := min(len(log), idx+2000)
			out = append(out, fmt.Sprintf("replica %d (incarnation %d): %s", i, k, log[start:end]))
		}
	}
	return out
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
