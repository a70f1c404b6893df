package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/chronon-db/chronon/bench"
)

// Systems measured.
const (
	systemEtcd    = "etcd"
	systemChronon = "chronon"
)

// runTimeout bounds one measurement beyond its warm-up and duration
// (connecting every client, and the calls in flight at its end, which get
// 10 s), so a system that hangs — a Chronon session that never registers —
// is reported as failed and the run goes on.
const runTimeout = 30 * time.Second

// run runs the whole comparison and returns the exit code.
func run(ctx context.Context, o options, stdout, stderr io.Writer) int {
	if err := ensureEtcd(ctx, o.etcdBin, o.install, stderr); err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "chronon-peers-")
	if err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	ps := &procs{}
	// Stop every process, then remove the data (deferred calls run in
	// reverse order).
	defer func() {
		if o.keep {
			fmt.Fprintf(stderr, "peers: kept %s\n", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(stderr, "peers: %v\n", err)
		}
	}()
	defer ps.stopAll(stderr)

	rep, err := compare(ctx, o, ps, tmp, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "peers: %v\n", err)
			return 1
		}
	} else {
		rep.writeMarkdown(stdout)
	}
	if o.out != "" {
		if err := rep.writeFiles(o.out); err != nil {
			fmt.Fprintf(stderr, "peers: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "peers: wrote peers.json, peers.csv, peers.md and peers.svg in %s\n", o.out)
	}
	if ctx.Err() != nil {
		return 130 // interrupted, as a shell reports SIGINT
	}
	return 0
}

// compare starts both clusters and runs every measurement.
func compare(ctx context.Context, o options, ps *procs, tmp string, stderr io.Writer) (*report, error) {
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "peers: "+format+"\n", args...) }
	if o.seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.seed = binary.LittleEndian.Uint64(b[:])
	}
	rep := &report{
		Date:     time.Now().UTC(),
		Command:  strings.Join(append([]string{"go run ."}, os.Args[1:]...), " "),
		Machine:  readMachine(),
		Settings: settingsOf(o),
	}
	rep.EtcdVersion = etcdVersion(o.etcdBin)

	bin := o.chrononBin
	if bin == "" {
		logf("building cmd/chronon")
		var err error
		if bin, err = buildChronon(ctx, o.repo, tmp, stderr); err != nil {
			return nil, err
		}
	}
	rep.ChrononVersion = chrononVersion(bin)
	if o.chrononBin == "" {
		// Builds here may not stamp the revision (-buildvcs=false).
		rep.ChrononVersion = strings.Replace(rep.ChrononVersion, "revision unknown", "revision "+gitRevision(o.repo), 1)
	}

	logf("starting 3 etcd members (%s)", rep.EtcdVersion)
	ec, err := startEtcd(ctx, ps, o.etcdBin, tmp)
	if err != nil {
		return nil, err
	}
	logf("starting 3 Chronon replicas (%s)", rep.ChrononVersion)
	cc, err := startChronon(ctx, ps, bin, tmp, o.clientsMax)
	if err != nil {
		return nil, err
	}
	logf("ready: etcd pids %s, Chronon pids %s", pids(ec.members), pids(cc.replicas))

	var progress io.Writer
	if o.verbose {
		progress = stderr
	}
	w := putWorkload{keys: uint64(o.keys), keySize: o.keySize, valueSize: o.valueSize, seed: o.seed}
	total := 0
	for _, c := range o.clients {
		total += o.rounds * (len(etcdVariants(o.etcdConns, c)) + 1)
	}
	order := 0
	for _, clients := range o.clients {
		for round := 1; round <= o.rounds; round++ {
			type step struct {
				system string
				conns  int
			}
			var steps []step
			for _, conns := range etcdVariants(o.etcdConns, clients) {
				steps = append(steps, step{systemEtcd, conns})
			}
			steps = append(steps, step{systemChronon, clients})
			for _, s := range steps {
				if ctx.Err() != nil {
					rep.Machine.LoadAfter = bench.LoadAverage()
					rep.Ratios = ratios(rep.Runs)
					return rep, nil
				}
				order++
				r := runResult{Clients: clients, Round: round, Order: order, System: s.system, Connections: s.conns,
					Label: label(s.system, s.conns, clients), Started: time.Now().UTC()}
				logf("[%d/%d] %d %s, round %d: %s", order, total, clients, plural(clients, "client", "clients"), round, r.Label)
				rctx, cancel := context.WithTimeout(ctx, o.warmup+o.duration+runTimeout)
				var res bench.Result
				var err error
				servers := cc.replicas
				if s.system == systemEtcd {
					servers = ec.members
				}
				cpu0, t0 := cpuTimes(servers), time.Now()
				if s.system == systemEtcd {
					res, err = measureEtcd(rctx, ec, w, clients, s.conns, o.warmup, o.duration, progress)
				} else {
					res, err = measureChronon(rctx, cc, w, clients, o.warmup, o.duration, progress)
				}
				r.WallSeconds = time.Since(t0).Seconds()
				r.ServerCPUSeconds = (cpuTimes(servers) - cpu0).Seconds()
				if rctx.Err() != nil && ctx.Err() == nil {
					limit := o.warmup + o.duration + runTimeout
					if err == nil {
						err = fmt.Errorf("no result within %v", limit)
					} else {
						err = fmt.Errorf("gave up after %v: %w", limit, err)
					}
				}
				cancel()
				r.Result = res
				if err != nil {
					r.Error = err.Error()
					logf("  failed: %v", err)
				} else {
					note := ""
					if res.Partial {
						note = " (interrupted)"
					}
					logf("  %.0f puts/s, p50 %s, p99 %s%s", res.EventsPerSecond, fmtLatency(res.Latency.P50), fmtLatency(res.Latency.P99), note)
				}
				rep.Runs = append(rep.Runs, r)
				// A server that died fails the rest of the run.
				for _, p := range append(append([]*process(nil), ec.members...), cc.replicas...) {
					if e := p.exited(); e != nil {
						rep.Ratios = ratios(rep.Runs)
						return rep, fmt.Errorf("%w (logs in %s; use --keep to keep them)", e, tmp)
					}
				}
			}
		}
	}
	rep.Machine.LoadAfter = bench.LoadAverage()
	rep.Ratios = ratios(rep.Runs)
	return rep, nil
}

// pids lists the processes' PIDs (to stop them by hand should this
// program be killed before it could).
func pids(ps []*process) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprint(p.cmd.Process.Pid))
	}
	return strings.Join(s, " ")
}

// label names a system and its connections for the tables.
func label(system string, conns, clients int) string {
	switch {
	case system == systemChronon:
		if clients == 1 {
			return "Chronon, 1 session"
		}
		return "Chronon, a session each"
	case clients == 1:
		return "etcd, 1 connection"
	case conns == clients:
		return "etcd, a connection each"
	case conns == 1:
		return "etcd, 1 shared connection"
	default:
		return fmt.Sprintf("etcd, %d shared connections", conns)
	}
}

// machine describes where the run ran.
type machine struct {
	Cores  int    `json:"cores"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1, 5 and 15 minute
	// averages at the start and the end.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU(), LoadBefore: bench.LoadAverage()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// settings are the workload's knobs, as run.
type settings struct {
	Clients []int `json:"clients"`
	// ChrononClientsMax is the client sessions Chronon's data files hold.
	ChrononClientsMax int      `json:"chronon_clients_max"`
	EtcdConns         []string `json:"etcd_conns"`
	Rounds            int      `json:"rounds"`
	WarmupS           float64  `json:"warmup_s"`
	DurationS         float64  `json:"duration_s"`
	KeySize           int      `json:"key_size"`
	ValueSize         int      `json:"value_size"`
	Keys              int      `json:"keys"`
	Seed              uint64   `json:"seed"`
}

func settingsOf(o options) settings {
	return settings{Clients: o.clients, ChrononClientsMax: o.clientsMax, EtcdConns: o.etcdConns, Rounds: o.rounds, WarmupS: o.warmup.Seconds(),
		DurationS: o.duration.Seconds(), KeySize: o.keySize, ValueSize: o.valueSize, Keys: o.keys, Seed: o.seed}
}

// writeFiles writes peers.json, peers.csv, peers.md and peers.svg into dir.
func (r *report) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "peers.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var csv, md strings.Builder
	r.writeCSV(&csv)
	r.writeMarkdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "peers.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "peers.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	var svg strings.Builder
	if err := r.writeSVG(&svg); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "peers.svg"), []byte(svg.String()), 0o644)
}
