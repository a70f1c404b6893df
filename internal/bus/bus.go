package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/chronon-db/chronon/internal/invariants"
	cio "github.com/chronon-db/chronon/io"
	"github.com/chronon-db/chronon/wire"
)

// Handler receives every valid message. h was decoded from m's bytes and the
// body verified; the handler takes its own reference to m if it keeps it.
type Handler interface {
	OnMessage(m *wire.Message, h *wire.Header)
}

// Config describes the bus of one replica.
type Config struct {
	// Wire is the cluster's validation config.
	Wire wire.Config
	// Replica is this replica's index.
	Replica uint8
	// Addresses holds "host:port" for every replica, by index. This replica
	// listens on its own entry (port 0 picks a free port; see Port).
	Addresses []string
	// Limits bound send queues and the number of client connections.
	Limits wire.Limits
	// DialBackoffMinTicks and DialBackoffMaxTicks bound the delay between
	// dial attempts to a peer (doubling, with seeded jitter). The defaults
	// are 10 and 10*min ticks: a peer that comes back is found within about
	// 1.5 s at 10 ms ticks, and a down peer costs one dial per second.
	DialBackoffMinTicks uint64
	DialBackoffMaxTicks uint64
	// Seed seeds the jitter.
	Seed uint64
	// ListenWait is how long New keeps trying to listen while another
	// socket holds the address (0: not at all). A replica restarted right
	// after a kill -9 can find its port still held: the kernel releases
	// the killed process's io_uring, and the sockets it holds, after the
	// process is gone.
	ListenWait time.Duration
	// Logger, if set, receives a warning line when connections were
	// refused for want of a slot, at most one per LogIntervalTicks
	// (default 100: one second at 10 ms ticks).
	Logger           *slog.Logger
	LogIntervalTicks uint64
	// HandshakeTimeoutTicks closes an accepted connection that has not
	// sent a whole message within that many ticks (default 1000: 10 s at
	// 10 ms ticks). IdleTimeoutTicks closes a client connection with
	// nothing received, sent or queued for that many ticks (default 6000:
	// one minute); the Go client resends a request every RetryInterval
	// while it waits, and redials on its next call after a close.
	HandshakeTimeoutTicks uint64
	IdleTimeoutTicks      uint64
	// ClusterKeys, when set, make replica connections authenticate (the
	// peer_auth handshake; docs/protocol.md, "Peer authentication"): the
	// first key is offered first, every key is accepted. Without keys a
	// replica connection is bound on the dialler's word (a ping naming
	// its index), and one that offers authentication is refused.
	ClusterKeys []ClusterKey
	// ConnectionsPerAddress bounds the connections from one source
	// address that are not authenticated replicas (clients and
	// connections that have not said who they are); 0: no bound. One
	// more replaces the address's oldest silent connection, or is
	// refused (eviction too_many_connections) when it has none.
	// Loopback addresses are exempt unless LimitLoopback is set.
	ConnectionsPerAddress int
	LimitLoopback         bool
}

// ErrConfig means a bus Config is unusable.
var ErrConfig = errors.New("bus: invalid config")

type dialState struct {
	next    uint64 // tick of the next attempt
	backoff uint64 // current backoff in ticks
	active  bool   // a dial is in flight
}

// Bus connects one replica to its peers and its clients.
type Bus struct {
	cfg      Config
	io       *cio.IO
	pool     *wire.Pool
	handler  Handler
	listenFd int
	accept   cio.Completion
	addrs    []cio.TCPAddr
	conns    []connection
	peers    []*connection
	clients  map[wire.Uint128]*connection
	dials    []dialState
	tick     uint64
	rng      *rand.Rand
	closed   bool

	// refusal is the eviction(too_many_connections) sent on a connection
	// the bus has no slot for, sealed once in New.
	refusal [wire.HeaderSize]byte
	// refusalsLogged is DropNoSlot as of the last log line, which was at
	// tick refusalLogTick.
	refusalsLogged uint64
	refusalLogTick uint64
	// timeoutsLogged is TimeoutHandshake+TimeoutIdle as of the last log
	// line about them, at tick timeoutLogTick.
	timeoutsLogged uint64
	timeoutLogTick uint64
	// perAddressLog, evictedLog and authLog rate-limit the log lines about
	// DropPerAddress, EvictedSilent and AuthFailed; authReason is the
	// reason of the last authentication failure.
	perAddressLog, evictedLog, authLog logLimit
	authReason                         string

	// auth holds the cluster keys (nil: peers do not authenticate).
	auth *authKeys
	// pendingFd is a connection accepted when no slot was free, held
	// while the silent connection closed for it frees its slot (-1:
	// none); accepting waits meanwhile (acceptPaused), the kernel's
	// backlog holding the next ones. acceptSeq numbers accepted
	// connections, oldest first.
	pendingFd    int
	pendingAddr  netip.Addr
	acceptPaused bool
	acceptSeq    uint64
	// wrongClusterLogged is DropWrongCluster as of the last log line about
	// it, at tick wrongClusterLogTick; wrongCluster is the last foreign
	// cluster id heard.
	wrongClusterLogged  uint64
	wrongClusterLogTick uint64
	wrongCluster        wire.Uint128

	// clientSends is the number of messages queued on client connections
	// (at most Limits.ClientSendsMax).
	clientSends int
	// stalled is the number of connections waiting for a receive buffer.
	stalled int
	// resumeFrom is the slot Resume starts at (it moves on, for fairness).
	resumeFrom int

	// Counters are the bus's metrics.
	Counters Counters
}

// New resolves every address (host names are looked up once, here), listens
// on this replica's address and prepares connection slots for every peer and
// cfg.Limits.Connections() clients. Call SetHandler before the IO runs.
func New(cfg Config, io *cio.IO, pool *wire.Pool) (*Bus, error) {
	if int(cfg.Wire.ReplicaCount) != len(cfg.Addresses) || cfg.Replica >= cfg.Wire.ReplicaCount {
		return nil, fmt.Errorf("%w: %d addresses for %d replicas, replica %d", ErrConfig, len(cfg.Addresses), cfg.Wire.ReplicaCount, cfg.Replica)
	}
	if cfg.DialBackoffMinTicks == 0 {
		cfg.DialBackoffMinTicks = 10
	}
	if cfg.DialBackoffMaxTicks < cfg.DialBackoffMinTicks {
		cfg.DialBackoffMaxTicks = 10 * cfg.DialBackoffMinTicks
	}
	if cfg.LogIntervalTicks == 0 {
		cfg.LogIntervalTicks = 100
	}
	if cfg.HandshakeTimeoutTicks == 0 {
		cfg.HandshakeTimeoutTicks = 1000
	}
	if cfg.IdleTimeoutTicks == 0 {
		cfg.IdleTimeoutTicks = 6000
	}
	if cfg.Limits.ClientMessagesMax < 1 || cfg.Limits.ClientSendsMax < 1 || cfg.Limits.Connections() < 1 {
		return nil, fmt.Errorf("%w: client messages max %d, client sends max %d and connections %d must be positive",
			ErrConfig, cfg.Limits.ClientMessagesMax, cfg.Limits.ClientSendsMax, cfg.Limits.Connections())
	}
	if pool.Count() < cfg.Limits.MessagesMax() {
		return nil, fmt.Errorf("%w: pool of %d messages, limits need %d", ErrConfig, pool.Count(), cfg.Limits.MessagesMax())
	}
	auth, err := newAuthKeys(cfg.ClusterKeys)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectionsPerAddress < 0 {
		return nil, fmt.Errorf("%w: connections per address %d is negative", ErrConfig, cfg.ConnectionsPerAddress)
	}
	b := &Bus{
		cfg:       cfg,
		io:        io,
		pool:      pool,
		listenFd:  -1,
		pendingFd: -1,
		auth:      auth,
		peers:     make([]*connection, cfg.Wire.ReplicaCount),
		clients:   make(map[wire.Uint128]*connection, cfg.Limits.Connections()),
		dials:     make([]dialState, cfg.Wire.ReplicaCount),
		rng:       rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Replica))),
	}
	for i, a := range cfg.Addresses {
		addr, err := cio.ResolveTCP(context.Background(), a)
		if err != nil {
			return nil, fmt.Errorf("%w: replica %d: %w", ErrConfig, i, err)
		}
		b.addrs = append(b.addrs, addr)
	}
	refusal := wire.Header{
		Cluster:  cfg.Wire.Cluster,
		Size:     wire.HeaderSize,
		Protocol: wire.ProtocolVersion,
		Command:  wire.CommandEviction,
		Replica:  cfg.Replica,
		Reason:   uint8(wire.EvictionTooManyConnections),
	}
	wire.Seal(&refusal, b.refusal[:])
	slots := int(cfg.Wire.ReplicaCount) - 1 + cfg.Limits.Connections()
	b.conns = make([]connection, slots)
	lead := min(leadSize, int(cfg.Limits.MessageSizeMax))
	leads := make([]byte, slots*lead)
	for i := range b.conns {
		b.conns[i].init(b, leads[i*lead:(i+1)*lead:(i+1)*lead])
	}
	fd, err := b.io.ListenTCP(b.addrs[cfg.Replica], listenBacklog(slots))
	for waited := time.Duration(0); errors.Is(err, cio.ErrAddrInUse) && waited < cfg.ListenWait; waited += listenRetry {
		if waited == 0 && cfg.Logger != nil {
			cfg.Logger.Warn("bus: the listen address is in use; trying again", "address", b.addrs[cfg.Replica].String(), "for", cfg.ListenWait)
		}
		time.Sleep(listenRetry)
		fd, err = b.io.ListenTCP(b.addrs[cfg.Replica], listenBacklog(slots))
	}
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	b.listenFd = fd
	b.accept.Callback = onAccept
	b.accept.Context = b
	if err := b.io.Accept(&b.accept, b.listenFd); err != nil {
		_ = cio.CloseSocket(fd)
		return nil, fmt.Errorf("bus: accept: %w", err)
	}
	for j := range b.dials {
		b.dials[j].backoff = cfg.DialBackoffMinTicks
	}
	return b, nil
}

// leadSize is the receive buffer each connection holds of its own: a
// message up to this size is received there and copied into a pool buffer
// whole; a larger one is received into its pool buffer directly once its
// header is in.
const leadSize = 4096

// listenBacklog is how many connections the kernel queues before Accept:
// twice the connection slots, at least 128 (the kernel caps it at
// net.core.somaxconn). Every client may connect at once — each retries to
// every replica when its primary is slow — and the event loop accepts only
// between its turns; a SYN that finds the queue full is dropped and the
// client's kernel sends it again only after a second (measured: 256
// clients against a backlog of 128 overflowed it ~120 times per run and
// held 0.1 % of calls for 1.1–1.2 s).
// listenRetry is the pause between two tries to listen (Config.ListenWait).
const listenRetry = 100 * time.Millisecond

func listenBacklog(slots int) int {
	return min(max(128, 2*slots), 65535)
}

// socketOptions are set on every connection: messages are whole frames and
// latency matters (no Nagle), and the buffers hold several 1 MiB prepares.
var socketOptions = cio.TCPOptions{NoDelay: true, SendBuffer: 4 << 20, RecvBuffer: 4 << 20}

// IOEntriesNeeded is the io.Options.Entries a bus with these limits may use:
// per connection a receive, a send, a connect or close; plus the listener.
func IOEntriesNeeded(replicaCount int, limits wire.Limits) int {
	return 3*(replicaCount-1+limits.Connections()) + 1
}

// SetHandler sets the receiver of incoming messages.
func (b *Bus) SetHandler(h Handler) { b.handler = h }

// Port returns the TCP port this bus listens on (0 once closed).
func (b *Bus) Port() int {
	addr, err := cio.LocalTCPAddr(b.listenFd)
	if err != nil {
		return 0
	}
	return addr.Port()
}

// Connected reports whether a connection to replica r is established.
func (b *Bus) Connected(r uint8) bool { return b.peers[r] != nil }

// SendToReplica queues m for replica r. It never blocks: with no connection
// or a full send queue the message is dropped and counted.
func (b *Bus) SendToReplica(r uint8, m *wire.Message) {
	if r == b.cfg.Replica {
		panic("bus: replica sending to itself")
	}
	c := b.peers[r]
	if c == nil {
		b.Counters.DropNoRoute++
		return
	}
	c.enqueue(m, b.cfg.Limits.PeerSendQueueMax)
}

// SendToClient queues m for the client id's connection, if it has one here.
func (b *Bus) SendToClient(id wire.Uint128, m *wire.Message) {
	c := b.clients[id]
	if c == nil {
		b.Counters.DropNoRoute++
		return
	}
	// Buffers of the message pool queued for clients (large replies,
	// evictions) are bounded in total; the replica's reply slots have a
	// pool of their own, sized for every client send queue.
	fromPool := m.From(b.pool)
	if fromPool && b.clientSends >= b.cfg.Limits.ClientSendsMax {
		b.Counters.DropClientSends++
		return
	}
	if c.enqueue(m, b.cfg.Limits.ClientSendQueueMax) && fromPool {
		c.clientSends++
		b.clientSends++
	}
}

// Resume gives stalled connections a buffer if the client budget has room
// again, delivering what they hold, and reports whether it resumed any.
// The node calls it after the replica let go of requests (packed them into
// a prepare), so backpressure lasts only as long as the budget is spent,
// not until the next tick; Tick resumes too.
func (b *Bus) Resume() bool {
	if b.closed || b.stalled == 0 || b.pool.Budgeted() >= b.cfg.Limits.ClientMessagesMax {
		return false
	}
	resumed := false
	n := len(b.conns)
	for k := 0; k < n && b.stalled > 0; k++ {
		c := &b.conns[(b.resumeFrom+k)%n]
		if c.state != stateConnected || !c.stalled {
			continue
		}
		c.resume()
		if c.stalled {
			// The budget is spent again: the next call starts here.
			b.resumeFrom = (b.resumeFrom + k) % n
			return resumed
		}
		resumed = true
	}
	b.resumeFrom = (b.resumeFrom + 1) % n
	return resumed
}

// clientBuffer returns a pool buffer for a client (or not yet identified)
// connection to receive into, or nil when the client receive budget
// (Limits.ClientMessagesMax buffers in use, wherever they are held now) is
// spent. Every other owner of the pool keeps its share.
func (b *Bus) clientBuffer() *wire.Message {
	m, err := b.pool.GetBudgeted(b.cfg.Limits.ClientMessagesMax)
	if err != nil {
		return nil
	}
	return m
}

// Tick dials missing peers whose backoff expired and restarts sends that
// the IO could not take earlier.
func (b *Bus) Tick() {
	if b.closed {
		return
	}
	b.tick++
	b.logRefusals()
	b.logTimeouts()
	b.logHygiene()
	b.placePending()
	b.logWrongCluster()
	for j := 0; j < int(b.cfg.Replica); j++ {
		d := &b.dials[j]
		if b.peers[j] == nil && !d.active && b.tick >= d.next {
			b.dial(uint8(j))
		}
	}
	// Start at a slot that moves every tick, so stalled connections
	// share the client budget instead of the first slots taking it.
	first := int(b.tick % uint64(len(b.conns)))
	for k := range b.conns {
		c := &b.conns[(first+k)%len(b.conns)]
		if c.state != stateConnected {
			continue
		}
		if c.stalled {
			c.resume()
			if c.state != stateConnected {
				continue
			}
		}
		if c.state == stateConnected && c.count > 0 && !c.sendC.InFlight() {
			c.startSend()
		}
		if c.state == stateConnected && !c.stalled && !c.recvC.InFlight() {
			c.startRecv()
		}
		if c.state == stateConnected {
			c.checkTimeouts()
		}
	}
}

// Close closes every connection and the listener. In-flight operations
// complete with io.ErrCanceled when the IO runs or closes.
func (b *Bus) Close() {
	if b.closed {
		return
	}
	b.closed = true
	for i := range b.conns {
		b.conns[i].close()
	}
	if b.pendingFd >= 0 {
		_ = cio.CloseSocket(b.pendingFd)
		b.pendingFd = -1
	}
	if b.listenFd >= 0 {
		_ = b.io.Cancel(&b.accept)
		_ = cio.CloseSocket(b.listenFd)
		b.listenFd = -1
	}
}

// logRefusals writes one line for the connections refused since the last
// one, at most once per LogIntervalTicks.
func (b *Bus) logRefusals() {
	refused := b.Counters.DropNoSlot - b.refusalsLogged
	if refused == 0 || b.cfg.Logger == nil || (b.refusalsLogged != 0 && b.tick-b.refusalLogTick < b.cfg.LogIntervalTicks) {
		return
	}
	b.cfg.Logger.Warn("bus: refused connections: no free connection slot (clients were sent eviction too_many_connections)",
		"refused", refused, "refused_total", b.Counters.DropNoSlot, "slots", len(b.conns), "connections_max", b.cfg.Limits.Connections())
	b.refusalsLogged, b.refusalLogTick = b.Counters.DropNoSlot, b.tick
}

// logTimeouts writes one line for the connections closed by a timeout since
// the last one, at most once per LogIntervalTicks.
func (b *Bus) logTimeouts() {
	total := b.Counters.TimeoutHandshake + b.Counters.TimeoutIdle
	closed := total - b.timeoutsLogged
	if closed == 0 || b.cfg.Logger == nil || (b.timeoutsLogged != 0 && b.tick-b.timeoutLogTick < b.cfg.LogIntervalTicks) {
		return
	}
	b.cfg.Logger.Info("bus: closed client connections after a timeout",
		"closed", closed, "handshake_total", b.Counters.TimeoutHandshake, "idle_total", b.Counters.TimeoutIdle,
		"handshake_ticks", b.cfg.HandshakeTimeoutTicks, "idle_ticks", b.cfg.IdleTimeoutTicks)
	b.timeoutsLogged, b.timeoutLogTick = total, b.tick
}

// logLimit remembers a counter's value at its last log line, and when.
type logLimit struct {
	logged, tick uint64
}

// due reports whether a line about total (a counter) is due: it grew since
// the last line, and that line is LogIntervalTicks old (the first comes at
// once). It returns the growth and records the line.
func (b *Bus) due(l *logLimit, total uint64) (uint64, bool) {
	n := total - l.logged
	if n == 0 || b.cfg.Logger == nil || (l.logged != 0 && b.tick-l.tick < b.cfg.LogIntervalTicks) {
		return 0, false
	}
	l.logged, l.tick = total, b.tick
	return n, true
}

// logHygiene writes one line per kind of refusal beyond the slots and
// timeouts (per-address limit, silent connections closed for newer ones,
// failed peer authentication), each at most once per LogIntervalTicks.
func (b *Bus) logHygiene() {
	if n, ok := b.due(&b.perAddressLog, b.Counters.DropPerAddress); ok {
		b.cfg.Logger.Warn("bus: refused connections: too many from one address (sent eviction too_many_connections)",
			"refused", n, "refused_total", b.Counters.DropPerAddress, "connections_per_address", b.cfg.ConnectionsPerAddress)
	}
	if n, ok := b.due(&b.evictedLog, b.Counters.EvictedSilent); ok {
		b.cfg.Logger.Warn("bus: closed silent connections to make room for newer ones (connection slots or the per-address limit were full)",
			"closed", n, "closed_total", b.Counters.EvictedSilent, "slots", len(b.conns))
	}
	if n, ok := b.due(&b.authLog, b.Counters.AuthFailed); ok {
		b.cfg.Logger.Warn("bus: refused peer connections: replica authentication failed",
			"refused", n, "refused_total", b.Counters.AuthFailed, "last_reason", b.authReason, "keys", b.keyCount())
	}
}

func (b *Bus) keyCount() int {
	if b.auth == nil {
		return 0
	}
	return len(b.auth.keys)
}

// logWrongCluster warns, at most once per LogIntervalTicks, that messages
// of another cluster arrived since the last warning, naming both cluster
// ids: a replica that hears only such peers never joins a view, and this
// line is what says why.
func (b *Bus) logWrongCluster() {
	heard := b.Counters.DropWrongCluster - b.wrongClusterLogged
	if heard == 0 || b.cfg.Logger == nil || (b.wrongClusterLogged != 0 && b.tick-b.wrongClusterLogTick < b.cfg.LogIntervalTicks) {
		return
	}
	b.cfg.Logger.Warn("bus: messages from another cluster: connections closed (a peer formatted for another cluster, or wrong --addresses?)",
		"cluster", b.cfg.Wire.Cluster.String(), "their_cluster", b.wrongCluster.String(),
		"dropped", heard, "dropped_total", b.Counters.DropWrongCluster)
	b.wrongClusterLogged, b.wrongClusterLogTick = b.Counters.DropWrongCluster, b.tick
}

// refuse answers a connection the bus has no slot for with the sealed
// eviction(too_many_connections), and closes fd when closeFd is set (a
// connection already in a slot is closed by its owner). The send is
// synchronous and never blocks the loop: the connection has sent nothing
// yet, so its send buffer is empty and the 256 bytes go out whole, or
// (best effort) not at all.
func (b *Bus) refuse(fd int, closeFd bool) {
	_, _ = cio.SendNonBlocking(fd, b.refusal[:])
	if closeFd {
		_ = cio.CloseSocket(fd)
	}
}

func (b *Bus) freeConnection() *connection {
	for i := range b.conns {
		if b.conns[i].state == stateFree {
			return &b.conns[i]
		}
	}
	return nil
}

func (b *Bus) dial(peer uint8) {
	c := b.freeConnection()
	if c == nil {
		// A peer's slot is taken: close the oldest silent connection for
		// it; the dial is retried next tick.
		if v := b.oldestSilent(netip.Addr{}, false); v != nil {
			b.Counters.EvictedSilent++
			v.close()
		}
		return
	}
	fd, err := b.io.DialTCP(&c.connectC, b.addrs[peer])
	if err != nil {
		b.dialFailed(peer)
		return
	}
	c.state = stateConnecting
	c.fd = fd
	c.dialPeer = int(peer)
	b.dials[peer].active = true
}

func (b *Bus) dialFailed(peer uint8) {
	b.Counters.DialFailures++
	d := &b.dials[peer]
	d.active = false
	jitter := b.rng.Uint64N(d.backoff/2 + 1)
	d.next = b.tick + d.backoff + jitter
	d.backoff = min(2*d.backoff, b.cfg.DialBackoffMaxTicks)
}

func onAccept(c *cio.Completion) {
	b := c.Context.(*Bus)
	if b.closed {
		return
	}
	if c.Err == nil && !b.accepted(c.Result) {
		// Held until a slot frees: accept no more meanwhile.
		b.acceptPaused = true
		return
	}
	b.armAccept()
}

func (b *Bus) armAccept() {
	b.acceptPaused = false
	if err := b.io.Accept(&b.accept, b.listenFd); err != nil && !errors.Is(err, cio.ErrClosed) {
		panic(fmt.Sprintf("bus: cannot re-arm accept: %v", err))
	}
}

// accepted places the accepted socket fd in a slot, or refuses it, and
// returns true; or it closes the oldest silent connection to make room and
// returns false, holding fd (pendingFd) until that slot is free.
func (b *Bus) accepted(fd int) bool {
	invariants.Assert(b.pendingFd < 0 && fd >= 0, "bus: a second connection held for a slot")
	var addr netip.Addr
	if remote, err := cio.RemoteTCPAddr(fd); err == nil {
		addr = remote.IP()
	}
	closed := false
	if b.limitedAddress(addr) && b.fromAddress(addr) >= b.cfg.ConnectionsPerAddress {
		v := b.oldestSilent(addr, true)
		if v == nil {
			b.Counters.DropPerAddress++
			b.refuse(fd, true)
			return true
		}
		b.Counters.EvictedSilent++
		v.close()
		closed = true
	}
	if conn := b.acceptSlot(); conn != nil {
		b.place(conn, fd, addr)
		return true
	}
	if !closed {
		v := b.oldestSilent(netip.Addr{}, false)
		if v == nil {
			b.Counters.DropNoSlot++
			b.refuse(fd, true)
			return true
		}
		b.Counters.EvictedSilent++
		v.close()
	}
	b.pendingFd, b.pendingAddr = fd, addr
	return false
}

func (b *Bus) place(conn *connection, fd int, addr netip.Addr) {
	b.Counters.Accepted++
	b.acceptSeq++
	conn.fd, conn.dialPeer, conn.addr, conn.seq = fd, -1, addr, b.acceptSeq
	conn.connected()
}

// placePending gives the connection held for a slot the slot freed for it,
// and accepts again. Tick calls it: a slot frees in a completion callback,
// whose callers may still look at the connection that was in it.
func (b *Bus) placePending() {
	if b.closed || b.pendingFd < 0 {
		return
	}
	fd := b.pendingFd
	if conn := b.acceptSlot(); conn != nil {
		b.pendingFd = -1
		b.place(conn, fd, b.pendingAddr)
	} else {
		for i := range b.conns {
			if b.conns[i].state == stateClosing {
				return // a slot is about to free
			}
		}
		// The freed slot went to a peer's dial, or is kept for one:
		// close another silent connection, or refuse this one.
		if v := b.oldestSilent(netip.Addr{}, false); v != nil {
			b.Counters.EvictedSilent++
			v.close()
			return
		}
		b.pendingFd = -1
		b.Counters.DropNoSlot++
		b.refuse(fd, true)
	}
	if b.acceptPaused {
		b.armAccept()
	}
}

// acceptSlot returns a free slot for an accepted connection, keeping one
// free for every peer this replica is to dial and has no connection to
// (a peer that comes back finds its slot), or nil.
func (b *Bus) acceptSlot() *connection {
	free, due := 0, 0
	var first *connection
	for i := range b.conns {
		if b.conns[i].state == stateFree {
			free++
			if first == nil {
				first = &b.conns[i]
			}
		}
	}
	for j := 0; j < int(b.cfg.Replica); j++ {
		if b.peers[j] == nil && !b.dials[j].active {
			due++
		}
	}
	if free <= due {
		return nil
	}
	return first
}

// limitedAddress reports whether ConnectionsPerAddress applies to addr.
func (b *Bus) limitedAddress(addr netip.Addr) bool {
	return b.cfg.ConnectionsPerAddress > 0 && (b.cfg.LimitLoopback || !addr.IsLoopback())
}

// fromAddress counts the accepted connections from addr that are not
// authenticated replicas (and the one held for a slot).
func (b *Bus) fromAddress(addr netip.Addr) int {
	n := 0
	if b.pendingFd >= 0 && b.pendingAddr == addr {
		n++
	}
	for i := range b.conns {
		c := &b.conns[i]
		if c.state == stateConnected && c.dialPeer < 0 && c.kind != kindReplica && c.addr == addr {
			n++
		}
	}
	return n
}

// oldestSilent returns the accepted connection that has said nothing
// whole yet (no client id, no completed peer handshake; not waiting for a
// receive buffer) and was accepted first, from addr when sameAddress is
// set, or nil.
func (b *Bus) oldestSilent(addr netip.Addr, sameAddress bool) *connection {
	var oldest *connection
	for i := range b.conns {
		c := &b.conns[i]
		if c.state != stateConnected || c.dialPeer >= 0 || c.kind != kindUnknown || c.stalled || (sameAddress && c.addr != addr) {
			continue
		}
		if oldest == nil || c.seq < oldest.seq {
			oldest = c
		}
	}
	return oldest
}

func onConnect(c *cio.Completion) {
	conn := c.Context.(*connection)
	b := conn.bus
	peer := uint8(conn.dialPeer)
	if conn.state != stateConnecting {
		b.dials[peer].active = false
		conn.maybeFree()
		return
	}
	if c.Err != nil || b.closed {
		_ = cio.CloseSocket(conn.fd)
		conn.reset()
		b.dialFailed(peer)
		return
	}
	b.Counters.Dialled++
	b.dials[peer].backoff = b.cfg.DialBackoffMinTicks
	conn.connected()
	if conn.state != stateConnected {
		return
	}
	if b.auth != nil {
		// Bound once the acceptor proved it holds a key
		// (connection.onAuth); the dial stays active until then.
		conn.sendAuthHello()
		return
	}
	conn.bind(kindReplica, peer, wire.Uint128{})
	conn.sendHello()
}

// messageSize reads the size field of an encoded header.
func messageSize(m *wire.Message) uint32 {
	return binary.LittleEndian.Uint32(m.Buffer[wire.OffsetSize:])
}
