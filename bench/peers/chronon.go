package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chronon-db/chronon/bench"
	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/wire"
)

// chrononClusterID is the id the replicas are formatted with.
var chrononClusterID = wire.Uint128{Lo: 0xbe7c4}

// buildChronon builds repo's cmd/chronon into dir and returns the binary.
func buildChronon(ctx context.Context, repo, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "chronon")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/chronon")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/chronon in %s: %w", repo, err)
	}
	return bin, nil
}

// chrononVersion returns the first line of `chronon version`.
func chrononVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// gitRevision returns repo's commit (12 digits, "-dirty" when it has
// uncommitted changes), or "unknown".
func gitRevision(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--always", "--abbrev=12", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// chrononCluster is three Chronon replicas started as processes.
type chrononCluster struct {
	addresses []string
	replicas  []*process
}

// startChronon formats three production-preset data files for clientsMax
// client sessions in dir and starts a replica of the kv state machine on
// each, then waits until the cluster takes a put.
func startChronon(ctx context.Context, ps *procs, bin, dir string, clientsMax int) (*chrononCluster, error) {
	const n = 3
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	c := &chrononCluster{}
	for _, p := range ports {
		c.addresses = append(c.addresses, fmt.Sprintf("127.0.0.1:%d", p))
	}
	for i := range n {
		file := filepath.Join(dir, fmt.Sprintf("chronon%d.data", i))
		out, err := exec.CommandContext(ctx, bin, "format", "--cluster", fmt.Sprint(chrononClusterID.Lo),
			"--replica", fmt.Sprint(i), "--replica-count", fmt.Sprint(n), "--preset", "production", "--clients-max", fmt.Sprint(clientsMax), file).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("chronon format replica %d: %w: %s", i, err, strings.TrimSpace(string(out)))
		}
		p, err := ps.start(fmt.Sprintf("chronon replica %d", i), filepath.Join(dir, fmt.Sprintf("chronon%d.log", i)), bin,
			"start", "--state-machine", "kv", "--addresses", strings.Join(c.addresses, ","),
			"--replica", fmt.Sprint(i), "--status-interval", "0", file)
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, p)
	}
	// Ready: a session registers and a put commits.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.ping(ctx)
		if err == nil {
			return c, nil
		}
		for _, r := range c.replicas {
			if e := r.exited(); e != nil {
				return nil, fmt.Errorf("chronon: %w (log in %s)", e, dir)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("chronon not ready after 60s: %w (logs in %s)", err, dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *chrononCluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{Cluster: chrononClusterID, Addresses: c.addresses, MessageSizeMax: wire.MessageSizeMaxProduction, Logger: discard})
	if err != nil {
		return err
	}
	defer cl.Close()
	body, err := kv.AppendPut(nil, []byte("chronon-bench-peers-ready"), []byte("1"))
	if err != nil {
		return err
	}
	_, err = cl.Request(ctx, kv.OperationPut, body)
	return err
}

// measureChronon runs the put load against the Chronon cluster with
// bench.Run: each client its own session with one caller, one put per
// call.
func measureChronon(ctx context.Context, c *chrononCluster, w putWorkload, clients int, warmup, duration time.Duration, progress io.Writer) (bench.Result, error) {
	res, err := bench.Run(ctx, bench.Config{
		Workload:  bench.WorkloadKV,
		Addresses: c.addresses,
		Cluster:   chrononClusterID,
		Preset:    "production",
		Clients:   clients,
		Callers:   1,
		Batch:     1,
		Warmup:    warmup,
		Duration:  duration,
		KeySize:   w.keySize,
		ValueSize: w.valueSize,
		Keys:      int(w.keys),
		Seed:      w.seed,
		Progress:  progress,
		Logger:    discard,
	})
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // interrupted: Partial says so
	}
	return res, err
}

// discard is a logger that drops everything (the client's retries would
// otherwise flood the terminal when a run fails).
var discard = slog.New(slog.DiscardHandler)
