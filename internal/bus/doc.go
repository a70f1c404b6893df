// Package bus is Chronon's message bus: TCP connections between replicas and
// from clients, framed by the fixed wire header, driven by the io event loop.
//
// Every received message is checked before anything else looks at it: the
// header checksum and fields with wire.DecodeHeader, then the body checksum
// with wire.VerifyBody. A connection that sends anything invalid is closed
// (the stream's framing can no longer be trusted) and counted.
//
// Replicas keep one connection per pair: replica i dials every replica j < i
// and sends a ping first, so the acceptor learns who dialled. With
// Config.ClusterKeys both sides first run the peer_auth handshake (auth.go,
// docs/protocol.md "Peer authentication"): nothing but the handshake is
// sent on a replica connection before it is bound, and a connection that
// fails it is closed and counted (Counters.AuthFailed). Clients dial any
// replica; a client connection is bound to the client id of its first
// request. Each connection has a bounded send queue of message references
// (no copies); a full queue drops the message and counts it, and VSR's
// retransmissions recover. Dialling retries with exponential backoff and
// seeded jitter.
//
// Receiving: each connection has a 4 KiB lead buffer of its own. A message
// that fits it is copied whole into a pool buffer for the handler; a larger
// one moves into a pool buffer once its header is in and the rest of it is
// received there, exactly to its end. Between messages a connection holds
// no pool buffer. Client (and not yet identified) connections take their
// buffers from a shared budget of Limits.ClientMessagesMax
// (wire.Pool.GetBudgeted counts a buffer until its last reference drops,
// also while the primary's request queue holds it); when it is spent the
// bus stops reading from those connections (Counters.Backpressure) and
// retries every tick. Messages queued for clients are bounded by
// Limits.ClientSendsMax over all connections (Counters.DropClientSends).
//
// Timeouts, in ticks: an accepted connection that sends no whole message
// within HandshakeTimeoutTicks, and a client connection with no traffic for
// IdleTimeoutTicks, are closed, counted and logged at most once per
// LogIntervalTicks.
//
// A bus has ReplicaCount-1+Limits.Connections() connection slots
// (ConnectionsMax, sized apart from the client table's ClientsMax), one
// kept free for every lower-index peer it is to dial. An accepted
// connection that has not said who it is (silent) is closed to make room
// for a newer one when no slot is free (Counters.EvictedSilent), or when
// its source address holds Config.ConnectionsPerAddress connections; a
// newer connection waits in the kernel's backlog until the slot is free.
// A connection accepted when every slot holds a client or a peer, or whose
// address is at its limit with no silent connection, is refused: the bus
// sends it one sealed
// eviction with reason too_many_connections (built once in New; a
// non-blocking send that never stalls the loop), closes it and counts it
// (Counters.DropNoSlot or DropPerAddress), and logs each kind at most once per
// LogIntervalTicks.
//
// A Bus is driven by the single goroutine that runs its io.IO and must not be
// used from any other.
package bus
