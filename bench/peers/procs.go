package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before it is
// sent SIGKILL.
const stopGrace = 5 * time.Second

// process is a server started by this program.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

// procs tracks every process started, to stop them all by PID.
type procs struct {
	mu   sync.Mutex
	list []*process
}

// start starts a process with its stdout and stderr appended to logPath.
// It runs in its own process group, so a Ctrl-C at the terminal reaches
// this program only, which then stops it.
func (ps *procs) start(name, logPath string, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// exited returns an error when p has exited, nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) exited: %v", p.name, p.cmd.Process.Pid, p.err)
	default:
		return nil
	}
}

// stop sends p SIGTERM, then SIGKILL if it has not exited after grace,
// and waits for it. It returns an error when SIGKILL was needed.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s (pid %d): SIGTERM: %w", p.name, p.cmd.Process.Pid, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v: killed", p.name, p.cmd.Process.Pid, grace)
}

// stopAll stops every process started, one at a time, the last started
// first, and reports each that needed SIGKILL to w. One at a time because
// an etcd leader stopped transfers its leadership to a member still
// running; stopped together, it waits for members gone.
func (ps *procs) stopAll(w io.Writer) {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].stop(stopGrace); err != nil {
			fmt.Fprintf(w, "peers: %v\n", err)
		}
	}
}

// userHZ is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// cpuTime returns the user + system CPU time p has used so far, from
// /proc/<pid>/stat (0 where that cannot be read).
func (p *process) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line: the 14th
// and 15th fields, counted after the command name in parentheses (which
// may hold spaces).
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / userHZ
}

// cpuTimes sums cpuTime over ps.
func cpuTimes(ps []*process) time.Duration {
	var d time.Duration
	for _, p := range ps {
		d += p.cpuTime()
	}
	return d
}
