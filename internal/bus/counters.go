package bus

// Counters are the bus's metrics.
type Counters struct {
	Accepted        uint64 // connections accepted
	Dialled         uint64 // connections established by dialling
	DialFailures    uint64 // dial attempts that failed
	Closed          uint64 // connections closed
	MessagesIn      uint64 // messages delivered to the handler
	MessagesOut     uint64 // messages fully sent
	BytesIn         uint64
	BytesOut        uint64
	DropInvalid     uint64 // connections closed for an invalid header or body
	DropQueueFull   uint64 // outgoing messages dropped: send queue full
	DropNoRoute     uint64 // outgoing messages with no connection to send on
	DropNoBuffer    uint64 // peer receives paused (retried every tick): pool empty
	DropNoSlot      uint64 // accepted connections refused (eviction too_many_connections, then closed): all slots in use
	DropWrongSender uint64 // connections closed for claiming another identity
	// DropWrongCluster counts connections closed for a message whose
	// header checksum verifies but whose cluster id is another cluster's
	// (also counted in DropInvalid): a peer formatted for another cluster,
	// or a misconfigured --addresses. Logged at most once per
	// LogIntervalTicks with both ids.
	DropWrongCluster uint64
	// Backpressure counts receives paused on a client (or not yet
	// identified) connection because the client receive budget
	// (Limits.ClientMessagesMax) was spent, once per pause; each resumes
	// on a later tick.
	Backpressure uint64
	// DropClientSends counts messages for clients dropped because
	// Limits.ClientSendsMax were queued on client connections.
	DropClientSends uint64
	// TimeoutHandshake counts accepted connections closed for sending no
	// message within HandshakeTimeoutTicks; TimeoutIdle client connections
	// closed after IdleTimeoutTicks without traffic.
	TimeoutHandshake uint64
	TimeoutIdle      uint64
	// DropPerAddress counts accepted connections refused (eviction
	// too_many_connections, then closed) because their source address
	// had Config.ConnectionsPerAddress connections, none of them silent.
	DropPerAddress uint64
	// EvictedSilent counts accepted connections closed before they said
	// who they are, to make room for a newer connection (no free slot, or
	// the address at its limit) or for a dial to a peer.
	EvictedSilent uint64
	// AuthFailed counts connections closed for failing the peer handshake
	// (no key, a wrong key, a replayed or out-of-place step, or a plain
	// hello when keys are configured; docs/protocol.md).
	AuthFailed uint64
}
