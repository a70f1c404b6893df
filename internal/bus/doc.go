// Package bus is Chronon's message bus: TCP connections between replicas and
// from clients, framed by the fixed wire header, driven by the io event loop.
//
// Every received message is checked before anything else looks at it: the
// header checksum and fields with wire.DecodeHeader, then the body checksum
// with wire.VerifyBody. A connection that sends anything invalid is closed
// (the stream's framing can no longer be trusted) and counted.
//
// Replicas keep one connection per pair: replica i dials every replica j < i
// and sends a ping first, so the acceptor learns who dialled. Clients dial any
// replica; a client connection is bound to the client id of its first
// request. Each connection has a bounded send queue of message references
// (no copies); a full queue drops the message and counts it, and VSR's
// retransmissions recover. Dialling retries with exponential backoff and
// seeded jitter.
//
// A bus has ReplicaCount-1+ClientsMax connection slots. A connection
// accepted when none is free is refused: the bus sends it one sealed
// eviction with reason too_many_connections (built once in New; a
// non-blocking send that never stalls the loop), closes it and counts it
// (Counters.DropNoSlot), and logs the refusals at most once per
// LogIntervalTicks.
//
// A Bus is driven by the single goroutine that runs its io.IO and must not be
// used from any other.
package bus
