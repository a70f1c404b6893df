// Package cluster starts a local Chronon cluster inside a Go program: N
// replicas, each with its own data file and loopback port and its own event
// loop goroutine. It serves tests, benchmarks, the README's demo and Go
// programs that embed Chronon. Each replica is a node.Node, exactly as a
// `chronon start` process runs it; the package adds no protocol logic.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chronon-db/chronon/client"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/node"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// Config describes a local cluster.
type Config struct {
	// Replicas is the number of replicas (1, 3 or 5).
	Replicas int
	// Dir holds the data files (replica-N.chronon); created if missing.
	// Existing files are reused, so a cluster can be restarted.
	Dir string
	// Preset is the data file preset, "production" or "test" (default test).
	// New data files' grids grow beyond the preset's when two checkpoints
	// of the state machine's fullest state need it (node.WithStateSizeMax),
	// so a state machine of any capacity starts.
	Preset string
	// ClientsMax is the client sessions (and client connections per
	// replica) new data files hold; 0 means the preset's (production 1024,
	// test 16). More sessions grow the grid (node.WithClientsMax). Data
	// files already in Dir keep what they were formatted with.
	ClientsMax uint32
	// Cluster is the cluster id (default 1).
	Cluster wire.Uint128
	// NewStateMachine makes each replica's state machine; effects is the
	// replica's outbox emitter, nil without an outbox.
	NewStateMachine func(effects *outbox.Emitter) statemachine.StateMachine
	// Outbox, when set, gives every replica an outbox table with this
	// config; Sink delivers its effects from whichever replica leads.
	Outbox *outbox.Config
	Sink   outbox.Sink
	// EffectsWorkers and EffectsBatchMax are node.Config's (0: defaults).
	EffectsWorkers, EffectsBatchMax int
	// EffectsAdmission and EffectsAdmissionWait are node.Config's (0:
	// defaults; EffectsAdmission negative: no admission control).
	EffectsAdmission     int
	EffectsAdmissionWait time.Duration
	// TickInterval is the replicas' tick (default 10 ms).
	TickInterval time.Duration
	// IOBackend forces an io backend (default automatic).
	IOBackend cio.Backend
	// Logger receives the replicas' logs (default: discarded).
	Logger *slog.Logger
	// ClientIdleTimeout is node.Config.ClientIdleTimeout (default one
	// minute).
	ClientIdleTimeout time.Duration
	// ClusterKeys, if set, returns replica i's node.Config.ClusterKeys
	// (nil: its peers do not authenticate).
	ClusterKeys func(i int) [][32]byte
}

// Cluster is a running local cluster.
type Cluster struct {
	cfg       Config
	addresses []string
	journal   journal.Config
	mu        sync.Mutex
	replicas  []*running
}

type running struct {
	node   *node.Node
	cancel context.CancelFunc
	done   chan error
}

// Start formats missing data files, picks free loopback ports and starts
// every replica.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Replicas < 1 || cfg.Replicas > wire.ReplicaCountMax {
		return nil, fmt.Errorf("cluster: %d replicas", cfg.Replicas)
	}
	if cfg.NewStateMachine == nil {
		return nil, errors.New("cluster: NewStateMachine is required")
	}
	if cfg.Preset == "" {
		cfg.Preset = "test"
	}
	if cfg.Cluster.IsZero() {
		cfg.Cluster = wire.Uint128{Lo: 1}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	jcfg, err := journal.Preset(cfg.Preset)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if cfg.ClientsMax != 0 {
		if jcfg, err = node.WithClientsMax(jcfg, cfg.Replicas, cfg.ClientsMax); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	addresses, err := freePorts(cfg.Replicas)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, addresses: addresses, journal: jcfg, replicas: make([]*running, cfg.Replicas)}
	// New data files get a grid that holds two checkpoints of the state
	// machine's fullest state (node.Start checks it), whatever its size.
	sm, err := c.newStateMachine()
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if c.journal, err = node.WithStateSizeMax(c.journal, cfg.Replicas, uint64(sm.SnapshotSizeMax())); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	for i := range cfg.Replicas {
		if err := c.format(i); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Replicas {
		if err := c.StartReplica(i); err != nil {
			_, _ = c.Stop()
			return nil, err
		}
	}
	if err := c.WaitConnected(10 * time.Second); err != nil {
		_, _ = c.Stop()
		return nil, err
	}
	return c, nil
}

// WaitCaughtUp waits until every running replica has committed every op
// any of them holds, twice in a row 50 ms apart (statuses are published
// once per tick, and backups learn the last commit from the primary's
// heartbeat).
func (c *Cluster) WaitCaughtUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	settled := 0
	for {
		var commits []uint64
		var opMax uint64
		for i := range c.cfg.Replicas {
			if n := c.Node(i); n != nil {
				st := n.Status()
				commits = append(commits, st.CommitMin)
				opMax = max(opMax, st.Op)
			}
		}
		done := true
		for _, x := range commits {
			done = done && x == opMax
		}
		if done {
			settled++
			if settled == 2 {
				return nil
			}
		} else {
			settled = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: replicas at commits %v, highest op %d, after %v", commits, opMax, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitConnected waits until every running replica is connected to every
// other, so no replica misses the first prepares (a replica that does
// repairs them from the primary, which is slower under load).
func (c *Cluster) WaitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := true
		for i := range c.cfg.Replicas {
			if n := c.Node(i); n != nil && n.Status().Peers < c.cfg.Replicas-1 {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: replicas not connected after %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DataFile returns the path of replica i's data file.
func (c *Cluster) DataFile(i int) string {
	return filepath.Join(c.cfg.Dir, fmt.Sprintf("replica-%d.chronon", i))
}

// Addresses returns every replica's "host:port".
func (c *Cluster) Addresses() []string { return append([]string(nil), c.addresses...) }

// ClientConfig returns a client configuration for this cluster.
func (c *Cluster) ClientConfig() client.Config {
	return client.Config{
		Cluster:        c.cfg.Cluster,
		Addresses:      c.Addresses(),
		MessageSizeMax: c.journal.MessageSizeMax,
		Logger:         c.cfg.Logger,
	}
}

func (c *Cluster) format(i int) error {
	path := c.DataFile(i)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	opts := journal.FormatOptions{Config: c.journal, Cluster: c.cfg.Cluster, Replica: uint8(i), ReplicaCount: uint8(c.cfg.Replicas)}
	return node.FormatDataFile(path, opts)
}

// StartReplica (re)starts replica i from its data file.
func (c *Cluster) StartReplica(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replicas[i] != nil {
		return fmt.Errorf("cluster: replica %d is running", i)
	}
	sm, err := c.newStateMachine()
	if err != nil {
		return fmt.Errorf("cluster: replica %d: %w", i, err)
	}
	var keys [][32]byte
	if c.cfg.ClusterKeys != nil {
		keys = c.cfg.ClusterKeys(i)
	}
	n, err := node.Start(node.Config{
		ClusterKeys:  keys,
		DataFile:     c.DataFile(i),
		Addresses:    c.addresses,
		Sink:         c.cfg.Sink,
		StateMachine: sm,
		TickInterval: c.cfg.TickInterval,
		IOBackend:    c.cfg.IOBackend,
		Logger:       c.cfg.Logger.With("replica", i),

		EffectsWorkers:  c.cfg.EffectsWorkers,
		EffectsBatchMax: c.cfg.EffectsBatchMax,

		EffectsAdmission:     c.cfg.EffectsAdmission,
		EffectsAdmissionWait: c.cfg.EffectsAdmissionWait,

		ClientIdleTimeout: c.cfg.ClientIdleTimeout,
	})
	if err != nil {
		return fmt.Errorf("cluster: replica %d: %w", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	c.replicas[i] = r
	return nil
}

// newStateMachine builds a replica's state machine: NewStateMachine's,
// wrapped with an outbox table when Config.Outbox is set.
func (c *Cluster) newStateMachine() (statemachine.StateMachine, error) {
	if c.cfg.Outbox == nil {
		return c.cfg.NewStateMachine(nil), nil
	}
	tbl, err := outbox.NewTable(*c.cfg.Outbox)
	if err != nil {
		return nil, err
	}
	return outbox.NewMachine(c.cfg.NewStateMachine(tbl.Emitter()), tbl)
}

// StopReplica stops replica i (as a clean shutdown; its data file stays)
// and returns its node, whose replica and bus counters may then be read,
// and what Run returned.
func (c *Cluster) StopReplica(i int) (*node.Node, error) {
	c.mu.Lock()
	r := c.replicas[i]
	c.replicas[i] = nil
	c.mu.Unlock()
	if r == nil {
		return nil, nil
	}
	r.cancel()
	return r.node, <-r.done
}

// Node returns replica i's node, or nil if it is stopped. While it runs,
// only its Status and Recovery may be read from other goroutines.
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replicas[i] == nil {
		return nil
	}
	return c.replicas[i].node
}

// Stop stops every replica and returns their nodes (nil for replicas that
// were already stopped).
func (c *Cluster) Stop() ([]*node.Node, error) {
	var errs []error
	nodes := make([]*node.Node, len(c.replicas))
	for i := range c.replicas {
		n, err := c.StopReplica(i)
		nodes[i] = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return nodes, errors.Join(errs...)
}

// freePorts reserves n loopback ports by binding and releasing them.
func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: reserve port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
