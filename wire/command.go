package wire

// Command says what a message is. The zero value is invalid on the wire.
type Command uint8

// Commands of the VSR protocol. The numbering is part of the wire format:
// never renumber, only append.
const (
	// CommandReserved is the zero value; no valid message carries it.
	CommandReserved Command = 0
	// CommandPing is a replica's liveness and clock probe to a peer.
	CommandPing Command = 1
	// CommandPong answers a ping.
	CommandPong Command = 2
	// CommandRequest is a client's request to the primary.
	CommandRequest Command = 3
	// CommandPrepare carries one op of the log from the primary to backups.
	CommandPrepare Command = 4
	// CommandPrepareOK is a backup's ack that a prepare is durable in its WAL.
	CommandPrepareOK Command = 5
	// CommandReply is the primary's answer to a client's request.
	CommandReply Command = 6
	// CommandCommit is the primary's heartbeat carrying commit_max.
	CommandCommit Command = 7
	// CommandStartViewChange votes to move to a new view.
	CommandStartViewChange Command = 8
	// CommandDoViewChange sends a replica's log suffix to the new primary.
	CommandDoViewChange Command = 9
	// CommandStartView installs the new view's log on backups.
	CommandStartView Command = 10
	// CommandRequestStartView asks the primary of a view for its start_view.
	CommandRequestStartView Command = 11
	// CommandRequestHeaders asks a peer for the headers of an op range.
	CommandRequestHeaders Command = 12
	// CommandRequestPrepare asks a peer for one prepare, by op and checksum.
	CommandRequestPrepare Command = 13
	// CommandHeaders answers request_headers with a body of headers.
	CommandHeaders Command = 14
	// CommandEviction tells a client that its session is gone.
	CommandEviction Command = 15
	// CommandRequestReply asks a peer for a stored client reply (repair of
	// the client replies zone).
	CommandRequestReply Command = 16
	// CommandRequestBlocks asks a peer for grid blocks (state sync); the body
	// lists (address, checksum) pairs.
	CommandRequestBlocks Command = 17
	// CommandBlock carries one grid block (state sync and grid repair).
	CommandBlock Command = 18
	// CommandRequestSyncCheckpoint asks a peer for its latest checkpoint
	// (state sync when a replica lags beyond the WAL).
	CommandRequestSyncCheckpoint Command = 19
	// CommandSyncCheckpoint carries a checkpoint's superblock references.
	CommandSyncCheckpoint Command = 20
	// CommandRedirect answers a client request that reached a replica
	// which is not the primary: its view says which replica is (view mod
	// replica count).
	CommandRedirect Command = 21
	// CommandPeerAuth is one step of the handshake by which two replicas
	// with a cluster key prove membership to each other before either
	// sends a protocol message (docs/protocol.md, "Peer authentication").
	// The body is PeerAuthBodySize bytes; the bus handles it and never
	// hands it to a replica.
	CommandPeerAuth Command = 22
	// CommandRequestSyncManifest asks the primary for a page of the
	// manifest of the checkpoint it offered: op_min is the index of the
	// first chunk checksum wanted (state sync by difference).
	CommandRequestSyncManifest Command = 23
	// CommandSyncManifest carries a page of a checkpoint's manifest: the
	// checksums of its chunks (SyncChunkSize bytes each) from index op_min.
	// The checksum of the whole manifest is the checkpoint's id (context).
	CommandSyncManifest Command = 24
	// CommandRequestStable asks a peer for bytes of the state machine's
	// stable prefix (grid repair): op_min is their offset, commit their
	// length (one grid block's payload at most).
	CommandRequestStable Command = 25
	// CommandStable carries bytes of a stable prefix: op_min is their
	// offset, commit their length, the body the bytes.
	CommandStable Command = 26

	// commandCount is one past the highest valid command.
	commandCount = 27
)

var commandNames = [commandCount]string{
	CommandReserved:              "reserved",
	CommandPing:                  "ping",
	CommandPong:                  "pong",
	CommandRequest:               "request",
	CommandPrepare:               "prepare",
	CommandPrepareOK:             "prepare_ok",
	CommandReply:                 "reply",
	CommandCommit:                "commit",
	CommandStartViewChange:       "start_view_change",
	CommandDoViewChange:          "do_view_change",
	CommandStartView:             "start_view",
	CommandRequestStartView:      "request_start_view",
	CommandRequestHeaders:        "request_headers",
	CommandRequestPrepare:        "request_prepare",
	CommandHeaders:               "headers",
	CommandEviction:              "eviction",
	CommandRequestReply:          "request_reply",
	CommandRequestBlocks:         "request_blocks",
	CommandBlock:                 "block",
	CommandRequestSyncCheckpoint: "request_sync_checkpoint",
	CommandSyncCheckpoint:        "sync_checkpoint",
	CommandRedirect:              "redirect",
	CommandPeerAuth:              "peer_auth",
	CommandRequestSyncManifest:   "request_sync_manifest",
	CommandSyncManifest:          "sync_manifest",
	CommandRequestStable:         "request_stable",
	CommandStable:                "stable",
}

// Valid reports whether c is a command of the protocol (not reserved, not
// unknown).
func (c Command) Valid() bool { return c != CommandReserved && c < commandCount }

// String returns the protocol name of c, or "unknown(N)".
func (c Command) String() string {
	if c < commandCount {
		return commandNames[c]
	}
	return "unknown(" + itoa(uint64(c)) + ")"
}

// itoa formats v in decimal without fmt (keeps String cheap).
func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}
