package wire

// testConfig is the cluster configuration the wire tests validate against.
var testConfig = Config{
	Cluster:        Uint128{Lo: 0xC1, Hi: 0x0C},
	ReplicaCount:   3,
	MessageSizeMax: MessageSizeMaxTest,
}

// validHeader returns a header of command c that Validate accepts, with a
// body of bodySize bytes where the command allows one.
func validHeader(c Command) Header {
	h := Header{
		Cluster:  testConfig.Cluster,
		Size:     HeaderSize,
		View:     7,
		Protocol: ProtocolVersion,
		Command:  c,
		Replica:  1,
	}
	client := Uint128{Lo: 42, Hi: 1}
	sum := Uint128{Lo: 0xAB, Hi: 0xCD}
	switch c {
	case CommandPing:
		h.Timestamp = 1000
	case CommandPong:
		h.Timestamp = 1000
		h.Context = Uint128{Lo: 5000}
	case CommandRequest:
		h.Replica = 0
		h.Client = client
		h.Session = 9
		h.Request = 3
		h.Parent = sum
		h.Operation = OperationUserMin
		h.Size = HeaderSize + 128
	case CommandPrepare:
		h.Op = 12
		h.Commit = 10
		h.Timestamp = 123456
		h.Parent = sum
		h.Operation = OperationUserMin
		h.Size = HeaderSize + 512
	case CommandPrepareOK:
		h.Op = 12
		h.Commit = 10
		h.Context = sum
	case CommandReply:
		h.Client = client
		h.Context = sum
		h.Op = 12
		h.Commit = 12
		h.Timestamp = 123456
		h.Session = 9
		h.Request = 3
		h.Operation = OperationUserMin
		h.Size = HeaderSize + 64
	case CommandCommit:
		h.Commit = 10
		h.Context = sum
	case CommandStartViewChange:
	case CommandDoViewChange:
		h.LogView = 6
		h.Op = 12
		h.Commit = 10
		h.Size = HeaderSize + 2*HeaderSize
	case CommandStartView:
		h.Op = 12
		h.Commit = 10
		h.Size = HeaderSize + 3*HeaderSize
	case CommandRequestStartView:
	case CommandRequestHeaders:
		h.OpMin = 3
		h.Op = 12
	case CommandRequestPrepare:
		h.Op = 12
		h.Context = sum
	case CommandHeaders:
		h.Size = HeaderSize + HeaderSize
	case CommandEviction:
		h.Client = client
		h.Reason = uint8(EvictionTableFull)
	case CommandRequestReply:
		h.Client = client
		h.Context = sum
		h.Op = 12
	case CommandRequestBlocks:
		h.Size = HeaderSize + 2*BlockReferenceSize
	case CommandBlock:
		h.Op = 77
		h.Context = sum
		h.Size = HeaderSize + 4096
	case CommandRequestSyncCheckpoint:
		h.Op = 960
		h.OpMin = 4096
	case CommandRedirect:
		h.Client = client
		h.Context = sum
	case CommandPeerAuth:
		h.Size = HeaderSize + PeerAuthBodySize
	case CommandRequestSyncManifest:
		h.Op = 960
		h.OpMin = 2
	case CommandRequestStable:
		h.OpMin = 7936
		h.Commit = 7936
	case CommandStable:
		h.OpMin = 7936
		h.Commit = 4096
		h.Size = HeaderSize + 4096
	case CommandSyncManifest:
		h.Op = 960
		h.Context = sum
		h.Parent = sum
		h.OpMin = 1
		h.Commit = 100 << 20
		h.Size = HeaderSize + 3*SyncManifestEntrySize
	case CommandSyncCheckpoint:
		h.Op = 960
		h.Context = sum
		h.Parent = sum
		h.OpMin = 4096
		h.Commit = 100_000
		h.Size = HeaderSize + 256
	}
	return h
}

// refusalHeader is the eviction a replica's bus sends on a connection it
// has no slot for (docs/protocol.md, "Connection refused").
func refusalHeader() Header {
	return Header{
		Cluster:  testConfig.Cluster,
		Size:     HeaderSize,
		Protocol: ProtocolVersion,
		Command:  CommandEviction,
		Replica:  2,
		Reason:   uint8(EvictionTooManyConnections),
	}
}

// sealed encodes h with a deterministic body and seals it, returning the
// whole message.
func sealed(h *Header) []byte {
	if h.Size < HeaderSize {
		// Encode the header alone so that the size rule can be exercised.
		msg := make([]byte, HeaderSize)
		h.Encode(msg)
		h.Checksum = checksumHeader(msg)
		putUint128(msg[OffsetChecksum:], h.Checksum)
		return msg
	}
	msg := make([]byte, h.Size)
	for i := HeaderSize; i < len(msg); i++ {
		msg[i] = byte(i * 7)
	}
	Seal(h, msg)
	return msg
}
