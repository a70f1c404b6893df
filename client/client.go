package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// Config configures a Client.
type Config struct {
	// Cluster is the cluster id.
	Cluster wire.Uint128
	// Addresses are the replicas' "host:port", by replica index.
	Addresses []string
	// MessageSizeMax must match the cluster's (default
	// wire.MessageSizeMaxProduction).
	MessageSizeMax uint32
	// ID identifies the client; zero picks a random one.
	ID wire.Uint128
	// RetryInterval is how long to wait for a reply before resending the
	// request to every replica (default 100 ms).
	RetryInterval time.Duration
	// Logger receives connection events (default slog.Default()).
	Logger *slog.Logger
	// TLS, when set, makes the client connect with TLS (to replicas'
	// TLS fronts: chronon start --client-tls-address; Addresses are then
	// those addresses). Nil: plaintext TCP.
	TLS *tls.Config
}

// Splitter splits the reply of a coalesced request back per call. request
// is the request body (the calls' bodies concatenated), bounds[k] and
// bounds[k+1] delimit call k's body in it, and the result holds one reply
// per call. A nil Splitter means the operation is not coalesced.
type Splitter func(request, reply []byte, bounds []int) ([][]byte, error)

// call is one Submit waiting for its reply.
type call struct {
	operation wire.Operation
	body      []byte
	split     Splitter
	done      chan result
}

type result struct {
	reply []byte
	err   error
}

// Client is a session with a Chronon cluster.
type Client struct {
	cfg       Config
	wcfg      wire.Config
	transport *transport

	calls   chan *call
	closing chan struct{}
	closed  sync.Once
	wg      sync.WaitGroup

	// session state, owned by the driver goroutine
	session   uint64
	request   uint32
	parent    wire.Uint128
	view      uint32
	evicted   bool
	pending   []*call
	inflight  []*call
	bounds    []int
	requestID wire.Uint128 // checksum of the request in flight
	message   []byte       // bytes of the request in flight
	sentAt    time.Time
	// refusalLogged is when a refusal of a registered session's connection
	// was last logged.
	refusalLogged time.Time

	stats struct {
		redirects, broadcasts atomic.Uint64
	}
}

// Stats counts how the client found the primary.
type Stats struct {
	// Redirects is the number of redirects followed: a replica that was
	// not the primary named a newer view, and the request went at once to
	// that view's primary.
	Redirects uint64
	// Broadcasts is the number of times a request went to every replica:
	// no reply within RetryInterval, or the presumed primary unreachable.
	Broadcasts uint64
}

// Stats returns the client's counters. Safe to call from any goroutine.
func (c *Client) Stats() Stats {
	return Stats{Redirects: c.stats.redirects.Load(), Broadcasts: c.stats.broadcasts.Load()}
}

// Dial connects to the cluster and registers a session. It returns when the
// session is open or ctx ends, or at once with ErrTooManyClients when a
// replica refuses a connection for want of a slot before the session is
// registered.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Addresses) == 0 || len(cfg.Addresses) > wire.ReplicaCountMax {
		return nil, fmt.Errorf("%w: %d addresses", ErrConfig, len(cfg.Addresses))
	}
	if cfg.MessageSizeMax == 0 {
		cfg.MessageSizeMax = wire.MessageSizeMaxProduction
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ID.IsZero() {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("client: random id: %w", err)
		}
		cfg.ID = wire.Uint128{Lo: binary.LittleEndian.Uint64(b[:8]), Hi: binary.LittleEndian.Uint64(b[8:]) | 1}
	}
	c := &Client{
		cfg:     cfg,
		wcfg:    wire.Config{Cluster: cfg.Cluster, ReplicaCount: uint8(len(cfg.Addresses)), MessageSizeMax: cfg.MessageSizeMax},
		calls:   make(chan *call, 1024),
		closing: make(chan struct{}),
	}
	if err := c.wcfg.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.transport = newTransport(cfg, c.wcfg)
	c.wg.Add(1)
	go c.drive()
	if _, err := c.submit(ctx, wire.OperationRegister, nil, nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("client: register: %w", err)
	}
	return c, nil
}

// ID returns the client's id.
func (c *Client) ID() wire.Uint128 { return c.cfg.ID }

// Request sends one request of operation with body and returns the reply
// body. It is not coalesced with other calls.
func (c *Client) Request(ctx context.Context, operation wire.Operation, body []byte) ([]byte, error) {
	return c.submit(ctx, operation, body, nil)
}

// Submit sends body as part of a request of operation, coalesced with other
// concurrent Submits of the same operation; split divides the reply.
func (c *Client) Submit(ctx context.Context, operation wire.Operation, body []byte, split Splitter) ([]byte, error) {
	return c.submit(ctx, operation, body, split)
}

// BodySizeMax is the largest body one call may carry: a request travels
// inside a prepare, so it has message_size_max minus two headers.
func (c *Client) BodySizeMax() int { return int(c.cfg.MessageSizeMax) - 2*wire.HeaderSize }

func (c *Client) submit(ctx context.Context, operation wire.Operation, body []byte, split Splitter) ([]byte, error) {
	if len(body) > c.BodySizeMax() {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(body), c.BodySizeMax())
	}
	k := &call{operation: operation, body: body, split: split, done: make(chan result, 1)}
	select {
	case c.calls <- k:
	case <-c.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-k.done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the session's connections. Calls in flight return ErrClosed.
func (c *Client) Close() error {
	c.closed.Do(func() {
		close(c.closing)
		c.transport.close()
	})
	c.wg.Wait()
	return nil
}

// drive owns the session: it batches calls into requests, sends and resends
// them, and matches replies.
func (c *Client) drive() {
	defer c.wg.Done()
	ticker := time.NewTicker(c.cfg.RetryInterval / 4)
	defer ticker.Stop()
	for {
		if c.inflight == nil && len(c.pending) > 0 {
			c.sendNext()
		}
		select {
		case <-c.closing:
			c.failAll(ErrClosed)
			return
		case k := <-c.calls:
			if c.evicted {
				k.done <- result{err: ErrEvicted}
				continue
			}
			c.pending = append(c.pending, k)
		case r := <-c.transport.replies:
			c.onReply(r)
		case now := <-ticker.C:
			if c.inflight != nil && now.Sub(c.sentAt) >= c.cfg.RetryInterval {
				c.sentAt = now
				c.stats.broadcasts.Add(1)
				c.transport.broadcast(c.message)
			}
		}
	}
}

// sendNext builds the next request from pending calls: the first call, then
// following calls of the same operation while they fit, if it coalesces.
func (c *Client) sendNext() {
	first := c.pending[0]
	taken := 1
	size := len(first.body)
	if first.split != nil {
		for taken < len(c.pending) {
			k := c.pending[taken]
			if k.operation != first.operation || k.split == nil || size+len(k.body) > c.BodySizeMax() {
				break
			}
			size += len(k.body)
			taken++
		}
	}
	c.inflight = append(c.inflight[:0], c.pending[:taken]...)
	c.pending = c.pending[taken:]
	c.bounds = append(c.bounds[:0], 0)
	h := wire.Header{
		Cluster:   c.cfg.Cluster,
		Size:      uint32(wire.HeaderSize + size),
		View:      c.view,
		Protocol:  wire.ProtocolVersion,
		Command:   wire.CommandRequest,
		Client:    c.cfg.ID,
		Operation: first.operation,
	}
	if first.operation != wire.OperationRegister {
		c.request++
		h.Session, h.Request, h.Parent = c.session, c.request, c.parent
	}
	msg := make([]byte, h.Size)
	off := wire.HeaderSize
	for _, k := range c.inflight {
		off += copy(msg[off:], k.body)
		c.bounds = append(c.bounds, off-wire.HeaderSize)
	}
	wire.Seal(&h, msg)
	c.requestID, c.message, c.sentAt = h.Checksum, msg, time.Now()
	if !c.transport.send(int(c.view)%len(c.cfg.Addresses), msg) {
		// The primary of the last view the client knows cannot be reached
		// (it died, most likely): ask every replica at once rather than
		// after RetryInterval; the new primary answers.
		c.stats.broadcasts.Add(1)
		c.transport.broadcast(msg)
	}
}

func (c *Client) onReply(r reply) {
	h := &r.header
	if h.Command == wire.CommandRedirect {
		c.onRedirect(h)
		return
	}
	if h.View > c.view {
		c.view = h.View
	}
	if h.Command == wire.CommandEviction {
		if wire.EvictionReason(h.Reason) == wire.EvictionTooManyConnections {
			c.onRefused(h.Replica)
			return
		}
		if h.Client == c.cfg.ID {
			c.evicted = true
			c.failAll(fmt.Errorf("%w: reason %d (%s)", ErrEvicted, h.Reason, wire.EvictionReason(h.Reason)))
		}
		return
	}
	if c.inflight == nil || h.Context != c.requestID {
		return // a duplicate or late reply
	}
	c.parent = h.Checksum
	if h.Operation == wire.OperationRegister {
		c.session = h.Session
	}
	calls := c.inflight
	c.inflight = nil
	c.message = nil
	if len(calls) == 1 {
		calls[0].done <- result{reply: r.body}
		return
	}
	request := make([]byte, 0, c.bounds[len(c.bounds)-1])
	for _, k := range calls {
		request = append(request, k.body...)
	}
	parts, err := calls[0].split(request, r.body, c.bounds)
	if err == nil && len(parts) != len(calls) {
		err = fmt.Errorf("%w: split into %d parts for %d calls", ErrInvalidReply, len(parts), len(calls))
	}
	for i, k := range calls {
		if err != nil {
			k.done <- result{err: err}
			continue
		}
		k.done <- result{reply: parts[i]}
	}
}

// onRedirect follows a redirect: a replica that is not the primary got the
// request in flight and names a view newer than the client's. The request
// goes at once to that view's primary (view mod replica count), without
// waiting for RetryInterval. A redirect for another request, or one that
// names no newer view, changes nothing.
func (c *Client) onRedirect(h *wire.Header) {
	if h.View <= c.view {
		return
	}
	c.view = h.View
	if c.inflight == nil || h.Context != c.requestID || h.Client != c.cfg.ID {
		return
	}
	c.stats.redirects.Add(1)
	c.sentAt = time.Now()
	if !c.transport.send(int(c.view)%len(c.cfg.Addresses), c.message) {
		c.stats.broadcasts.Add(1)
		c.transport.broadcast(c.message)
	}
}

// onRefused handles a replica's refusal of a connection it had no slot for.
// Before the session is registered it fails Dial: the session needs a
// connection to whichever replica is primary, which the client cannot tell
// yet and which may change, and a full replica means the cluster is at its
// client capacity. A registered session keeps going through the replicas
// that have room (the refusing replica is redialled with the next send); a
// warning says so at most once a second.
func (c *Client) onRefused(replica uint8) {
	if c.session == 0 {
		c.failAll(fmt.Errorf("%w (replica %d refused the connection)", ErrTooManyClients, replica))
		return
	}
	if now := time.Now(); now.Sub(c.refusalLogged) >= time.Second {
		c.refusalLogged = now
		c.cfg.Logger.Warn("client: a replica has no connection slot for this client; the session continues, retrying it with the next send",
			"replica", replica, "client", c.cfg.ID.String())
	}
}

func (c *Client) failAll(err error) {
	for _, k := range c.inflight {
		k.done <- result{err: err}
	}
	for _, k := range c.pending {
		k.done <- result{err: err}
	}
	c.inflight, c.pending = nil, nil
	for {
		select {
		case k := <-c.calls:
			k.done <- result{err: err}
		default:
			return
		}
	}
}
