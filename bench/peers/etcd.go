package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/chronon-db/chronon/bench"
)

// ensureEtcd returns nil when bin exists; otherwise, when install is set
// and this runs as root, it installs Debian's etcd-server and etcd-client
// with apt-get (their output to log), else it says how to.
func ensureEtcd(ctx context.Context, bin string, install bool, log io.Writer) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	const how = "install it with `apt-get update && apt-get install -y etcd-server etcd-client` (as root), or name another etcd binary with --etcd"
	if !install || os.Geteuid() != 0 || bin != "/usr/bin/etcd" {
		return fmt.Errorf("etcd not found at %s: %s", bin, how)
	}
	fmt.Fprintln(log, "peers: installing etcd-server and etcd-client with apt-get")
	for _, args := range [][]string{
		{"update"},
		{"install", "-y", "--no-install-recommends", "etcd-server", "etcd-client"},
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w (%s)", strings.Join(args, " "), err, how)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("etcd still missing after apt-get install: %w", err)
	}
	return nil
}

// etcdVersion returns the first line of `etcd --version`.
func etcdVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return "etcd " + strings.TrimSpace(strings.TrimPrefix(line, "etcd Version:"))
}

// freePorts returns n distinct free TCP ports on 127.0.0.1 (free when
// returned; a server binding them later may race another process, which
// then fails that server's start visibly).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// etcdCluster is three etcd members started as processes.
type etcdCluster struct {
	endpoints []string // client URLs
	members   []*process
}

// startEtcd starts a 3-member etcd cluster on loopback, data and logs in
// dir, and waits until it takes a put.
func startEtcd(ctx context.Context, ps *procs, bin, dir string) (*etcdCluster, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	const n = 3
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("etcd%d=http://127.0.0.1:%d", i, ports[n+i]))
	}
	c := &etcdCluster{}
	for i := range n {
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[i])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[n+i])
		c.endpoints = append(c.endpoints, client)
		p, err := ps.start(fmt.Sprintf("etcd member %d", i), filepath.Join(dir, fmt.Sprintf("etcd%d.log", i)), bin,
			"--name", fmt.Sprintf("etcd%d", i),
			"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd%d.data", i)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "chronon-bench-peers",
			"--logger", "zap",
		)
		if err != nil {
			return nil, err
		}
		c.members = append(c.members, p)
	}
	// Ready: a put through a client of every endpoint succeeds.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.ping(ctx)
		if err == nil {
			return c, nil
		}
		for _, m := range c.members {
			if e := m.exited(); e != nil {
				return nil, fmt.Errorf("etcd: %w (log in %s)", e, dir)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("etcd not ready after 60s: %w (logs in %s)", err, dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *etcdCluster) dial() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   c.endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
	})
}

func (c *etcdCluster) ping(ctx context.Context) error {
	cl, err := c.dial()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, ep := range c.endpoints {
		if _, err := cl.Status(ctx, ep); err != nil {
			return fmt.Errorf("%s: %w", ep, err)
		}
	}
	_, err = cl.Put(ctx, "chronon-bench-peers-ready", "1")
	return err
}

// putWorkload is the kv put load both systems get: per caller, keys of
// keySize bytes uniformly over keys (key i is i big-endian in the last 8
// bytes, 'k' before, as bench's kv workload writes them) and a fixed
// value of valueSize bytes.
type putWorkload struct {
	keys               uint64
	keySize, valueSize int
	seed               uint64
}

// measureEtcd runs the put load against the etcd cluster from clients
// callers sharing conns client connections (each its own when conns ==
// clients), measured by bench.Measure.
func measureEtcd(ctx context.Context, c *etcdCluster, w putWorkload, clients, conns int, warmup, duration time.Duration, progress io.Writer) (bench.Result, error) {
	cls := make([]*clientv3.Client, 0, conns)
	defer func() {
		for _, cl := range cls {
			cl.Close()
		}
	}()
	for range conns {
		cl, err := c.dial()
		if err != nil {
			return bench.Result{}, fmt.Errorf("etcd: connect: %w", err)
		}
		cls = append(cls, cl)
	}
	cfg := bench.MeasureConfig{Clients: clients, Callers: 1, Warmup: warmup, Duration: duration, Progress: progress}
	res, err := bench.Measure(ctx, cfg, func(client, caller int) bench.CallFunc {
		cl := cls[client%conns]
		rng := rand.New(rand.NewPCG(w.seed, uint64(client)))
		key := make([]byte, w.keySize)
		value := make([]byte, w.valueSize)
		for j := range value {
			value[j] = byte(client + j)
		}
		v := string(value)
		return func(ctx context.Context) (int, error) {
			// The draws of bench's kv caller (a get-or-put draw, then the
			// key), so both systems get the same keys in the same order.
			_ = rng.Float64()
			bench.KVKey(key, rng.Uint64N(w.keys))
			if _, err := cl.Put(ctx, string(key), v); err != nil {
				return 0, fmt.Errorf("etcd: put: %w", err)
			}
			return 1, nil
		}
	})
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil // interrupted: Partial says so
	}
	return res, err
}
