package wire

import (
	"errors"
	"testing"
)

// decodeSealed seals h (after the caller's mutation) and decodes it back.
func decodeSealed(h Header) error {
	msg := sealed(&h)
	var got Header
	if err := DecodeHeader(msg, &got, &testConfig); err != nil {
		return err
	}
	return VerifyBody(&got, msg[HeaderSize:])
}

func TestValidateRejects(t *testing.T) {
	other := Uint128{Lo: 1}
	tests := []struct {
		name    string
		command Command
		mutate  func(h *Header)
		kind    error
		want    *FieldError // nil: only the kind is checked
	}{
		// Rules common to every command.
		{"protocol", CommandPing, func(h *Header) { h.Protocol = 2 }, ErrProtocol, errProtocol},
		{"cluster", CommandPing, func(h *Header) { h.Cluster.Hi++ }, ErrCluster, errCluster},
		{"size below header", CommandPing, func(h *Header) { h.Size = HeaderSize - 1 }, ErrSize, errSizeBelowHeader},
		{"size zero", CommandPing, func(h *Header) { h.Size = 0 }, ErrSize, errSizeBelowHeader},
		{"size above max", CommandPrepare, func(h *Header) { h.Size = MessageSizeMaxTest + 1 }, ErrSize, errSizeAboveMax},
		{"command reserved", CommandPing, func(h *Header) { h.Command = CommandReserved }, ErrCommand, errCommand},
		{"command unknown", CommandPing, func(h *Header) { h.Command = commandCount }, ErrCommand, errCommand},
		{"command max", CommandPing, func(h *Header) { h.Command = 255 }, ErrCommand, errCommand},
		{"reserved first", CommandPing, func(h *Header) { h.Reserved[0] = 1 }, ErrReserved, errReserved},
		{"reserved last", CommandPing, func(h *Header) { h.Reserved[ReservedSize-1] = 0x80 }, ErrReserved, errReserved},
		{"replica out of range", CommandPrepare, func(h *Header) { h.Replica = 3 }, ErrReplica, errReplica[CommandPrepare]},
		{"replica max", CommandCommit, func(h *Header) { h.Replica = 255 }, ErrReplica, errReplica[CommandCommit]},

		// request
		{"request replica set", CommandRequest, func(h *Header) { h.Replica = 1 }, ErrField, errMustBeZero[CommandRequest][fieldReplica]},
		{"request op set", CommandRequest, func(h *Header) { h.Op = 1 }, ErrField, errMustBeZero[CommandRequest][fieldOp]},
		{"request no client", CommandRequest, func(h *Header) { h.Client = Uint128{} }, ErrField, errMustBeNonZero[CommandRequest][fieldClient]},
		{"request no operation", CommandRequest, func(h *Header) { h.Operation = OperationNone }, ErrField, errMustBeNonZero[CommandRequest][fieldOperation]},
		{"request root", CommandRequest, func(h *Header) { h.Operation = OperationRoot }, ErrField, errRequestOperationNoop},
		{"request batch", CommandRequest, func(h *Header) { h.Operation = OperationBatch }, ErrField, errRequestOperationNoop},
		{"request noop", CommandRequest, func(h *Header) { h.Operation = OperationNoop }, ErrField, errRequestOperationNoop},
		{"request unknown operation", CommandRequest, func(h *Header) { h.Operation = 64 }, ErrField, errRequestOperation},
		{"request no session", CommandRequest, func(h *Header) { h.Session = 0 }, ErrField, errRequestSession},
		{"request number zero", CommandRequest, func(h *Header) { h.Request = 0 }, ErrField, errRequestNumber},
		{"register with session", CommandRequest, func(h *Header) {
			h.Operation = OperationRegister
			h.Request = 0
			h.Parent = Uint128{}
			h.Size = HeaderSize
		}, ErrField, errRegisterSession},
		{"register with request", CommandRequest, func(h *Header) {
			h.Operation, h.Session, h.Parent, h.Size = OperationRegister, 0, Uint128{}, HeaderSize
		}, ErrField, errRegisterRequest},
		{"register with parent", CommandRequest, func(h *Header) {
			h.Operation, h.Session, h.Request, h.Size = OperationRegister, 0, 0, HeaderSize
		}, ErrField, errRegisterParent},
		{"register with body", CommandRequest, func(h *Header) {
			h.Operation, h.Session, h.Request, h.Parent = OperationRegister, 0, 0, Uint128{}
		}, ErrSize, errRegisterBody},

		// prepare
		{"prepare no operation", CommandPrepare, func(h *Header) { h.Operation = OperationNone }, ErrField, errMustBeNonZero[CommandPrepare][fieldOperation]},
		{"prepare unknown operation", CommandPrepare, func(h *Header) { h.Operation = 100 }, ErrField, errPrepareOperation},
		{"prepare root after op 0", CommandPrepare, func(h *Header) { h.Operation = OperationRoot }, ErrField, errPrepareRootOperation},
		{"prepare op 0 not root", CommandPrepare, func(h *Header) { h.Op, h.Commit = 0, 0 }, ErrField, errPrepareRootFields},
		{"prepare root with body", CommandPrepare, func(h *Header) {
			h.Op, h.Commit, h.Timestamp, h.Parent, h.Operation = 0, 0, 0, Uint128{}, OperationRoot
		}, ErrField, errPrepareRootFields},
		{"prepare commit not below op", CommandPrepare, func(h *Header) { h.Commit = h.Op }, ErrField, errPrepareCommit},
		{"prepare no timestamp", CommandPrepare, func(h *Header) { h.Timestamp = 0 }, ErrField, errPrepareTimestamp},
		{"prepare no parent", CommandPrepare, func(h *Header) { h.Parent = Uint128{} }, ErrField, errPrepareParent},
		{"prepare log_view", CommandPrepare, func(h *Header) { h.LogView = 1 }, ErrField, errMustBeZero[CommandPrepare][fieldLogView]},

		// prepare_ok
		{"prepare_ok no op", CommandPrepareOK, func(h *Header) { h.Op = 0 }, ErrField, errMustBeNonZero[CommandPrepareOK][fieldOp]},
		{"prepare_ok no checksum", CommandPrepareOK, func(h *Header) { h.Context = Uint128{} }, ErrField, errMustBeNonZero[CommandPrepareOK][fieldContext]},
		{"prepare_ok body", CommandPrepareOK, func(h *Header) { h.Size = HeaderSize + 8 }, ErrSize, errMustBeZero[CommandPrepareOK][fieldBody]},

		// reply
		{"reply no client", CommandReply, func(h *Header) { h.Client = Uint128{} }, ErrField, errMustBeNonZero[CommandReply][fieldClient]},
		{"reply commit below op", CommandReply, func(h *Header) { h.Commit = h.Op - 1 }, ErrField, errReplyCommit},
		{"reply batch", CommandReply, func(h *Header) { h.Operation = OperationBatch }, ErrField, errReplyOperationReserve},
		{"reply noop", CommandReply, func(h *Header) { h.Operation = OperationNoop }, ErrField, errReplyOperationReserve},
		{"reply unknown operation", CommandReply, func(h *Header) { h.Operation = 99 }, ErrField, errReplyOperation},
		{"reply no timestamp", CommandReply, func(h *Header) { h.Timestamp = 0 }, ErrField, errMustBeNonZero[CommandReply][fieldTimestamp]},

		// commit
		{"commit without checksum", CommandCommit, func(h *Header) { h.Context = Uint128{} }, ErrField, errCommitContext},
		{"commit with client", CommandCommit, func(h *Header) { h.Client = other }, ErrField, errMustBeZero[CommandCommit][fieldClient]},

		// view change
		{"start_view_change op", CommandStartViewChange, func(h *Header) { h.Op = 1 }, ErrField, errMustBeZero[CommandStartViewChange][fieldOp]},
		{"start_view_change body", CommandStartViewChange, func(h *Header) { h.Size = HeaderSize + HeaderSize }, ErrSize, errMustBeZero[CommandStartViewChange][fieldBody]},
		{"do_view_change log_view above view", CommandDoViewChange, func(h *Header) { h.LogView = h.View + 1 }, ErrField, errDoViewChangeLogView},
		{"do_view_change whole vote with an anchor", CommandDoViewChange, func(h *Header) { h.Parent = Uint128{Lo: 7} }, ErrField, errDoViewChangeAnchor},
		{"do_view_change damaged bound below op", CommandDoViewChange, func(h *Header) { h.Op, h.Timestamp = 10, 9 }, ErrField, errDoViewChangeDamaged},
		{"do_view_change partial header", CommandDoViewChange, func(h *Header) { h.Size = HeaderSize + 100 }, ErrSize, errDoViewChangeBody},
		{"start_view commit above op", CommandStartView, func(h *Header) { h.Commit = h.Op + 1 }, ErrField, errStartViewCommit},
		{"start_view op_min above op", CommandStartView, func(h *Header) { h.OpMin = h.Op + 1 }, ErrField, errStartViewOpMin},
		{"start_view partial header", CommandStartView, func(h *Header) { h.Size = HeaderSize + 300 }, ErrSize, errStartViewBody},
		{"start_view log_view", CommandStartView, func(h *Header) { h.LogView = 1 }, ErrField, errMustBeZero[CommandStartView][fieldLogView]},
		{"request_start_view op", CommandRequestStartView, func(h *Header) { h.Op = 1 }, ErrField, errMustBeZero[CommandRequestStartView][fieldOp]},

		// repair
		{"request_headers reversed range", CommandRequestHeaders, func(h *Header) { h.OpMin = h.Op + 1 }, ErrField, errRequestHeadersRange},
		{"request_prepare timestamp", CommandRequestPrepare, func(h *Header) { h.Timestamp = 1 }, ErrField, errMustBeZero[CommandRequestPrepare][fieldTimestamp]},
		{"headers partial header", CommandHeaders, func(h *Header) { h.Size = HeaderSize + 255 }, ErrSize, errHeadersBody},
		{"request_reply no op", CommandRequestReply, func(h *Header) { h.Op = 0 }, ErrField, errMustBeNonZero[CommandRequestReply][fieldOp]},

		// sessions
		{"eviction no reason", CommandEviction, func(h *Header) { h.Reason = 0 }, ErrField, errMustBeNonZero[CommandEviction][fieldReason]},
		{"eviction unknown reason", CommandEviction, func(h *Header) { h.Reason = 200 }, ErrField, errEvictionReason},
		{"eviction reason past the last", CommandEviction, func(h *Header) { h.Reason = uint8(evictionReasonCount) }, ErrField, errEvictionReason},
		{"eviction no client", CommandEviction, func(h *Header) { h.Client = Uint128{} }, ErrField, errMustBeNonZero[CommandEviction][fieldClient]},
		{"too_many_connections with a client", CommandEviction, func(h *Header) {
			*h = refusalHeader()
			h.Client = Uint128{Lo: 1}
		}, ErrField, errRefusalClient},
		{"too_many_connections with a session", CommandEviction, func(h *Header) {
			*h = refusalHeader()
			h.Session = 1
		}, ErrField, errRefusalSession},
		{"too_many_connections with a view", CommandEviction, func(h *Header) {
			*h = refusalHeader()
			h.View = 1
		}, ErrField, errRefusalView},
		{"too_many_connections with a body", CommandEviction, func(h *Header) {
			*h = refusalHeader()
			h.Size = HeaderSize + 8
		}, ErrSize, errMustBeZero[CommandEviction][fieldBody]},
		{"reason on prepare", CommandPrepare, func(h *Header) { h.Reason = 1 }, ErrField, errMustBeZero[CommandPrepare][fieldReason]},

		// ping/pong
		{"ping no timestamp", CommandPing, func(h *Header) { h.Timestamp = 0 }, ErrField, errMustBeNonZero[CommandPing][fieldTimestamp]},
		{"pong body", CommandPong, func(h *Header) { h.Size = HeaderSize + 16 }, ErrSize, errMustBeZero[CommandPong][fieldBody]},

		// state sync
		{"request_blocks empty", CommandRequestBlocks, func(h *Header) { h.Size = HeaderSize }, ErrSize, errMustBeNonZero[CommandRequestBlocks][fieldBody]},
		{"request_blocks partial reference", CommandRequestBlocks, func(h *Header) { h.Size = HeaderSize + 30 }, ErrSize, errRequestBlocksBody},
		{"request_blocks too many", CommandRequestBlocks, func(h *Header) { h.Size = HeaderSize + (RequestBlocksMax+1)*BlockReferenceSize }, ErrSize, errRequestBlocksTooMany},
		{"block no address", CommandBlock, func(h *Header) { h.Op = 0 }, ErrField, errMustBeNonZero[CommandBlock][fieldOp]},
		{"sync_checkpoint no id", CommandSyncCheckpoint, func(h *Header) { h.Context = Uint128{} }, ErrField, errMustBeNonZero[CommandSyncCheckpoint][fieldContext]},
		{"request_sync_checkpoint body", CommandRequestSyncCheckpoint, func(h *Header) { h.Size = HeaderSize + 8 }, ErrSize, errMustBeZero[CommandRequestSyncCheckpoint][fieldBody]},
		{"stable body shorter than commit", CommandStable, func(h *Header) { h.Size = HeaderSize + 100 }, ErrSize, errStableBody},
		{"sync_manifest partial entry", CommandSyncManifest, func(h *Header) { h.Size = HeaderSize + 20 }, ErrSize, errSyncManifestBody},
		{"sync_manifest empty", CommandSyncManifest, func(h *Header) { h.Size = HeaderSize }, ErrSize, errMustBeNonZero[CommandSyncManifest][fieldBody]},
		{"sync_manifest past the chunks", CommandSyncManifest, func(h *Header) { h.Commit = 3 * SyncManifestEntrySize }, ErrField, errSyncManifestRange},
		{"sync_manifest op_min overflow", CommandSyncManifest, func(h *Header) { h.OpMin = ^uint64(0) }, ErrField, errSyncManifestRange},
		{"request_sync_manifest without op", CommandRequestSyncManifest, func(h *Header) { h.Op = 0 }, ErrField, errMustBeNonZero[CommandRequestSyncManifest][fieldOp]},
		{"peer_auth short body", CommandPeerAuth, func(h *Header) { h.Size-- }, ErrSize, errPeerAuthBody},
		{"peer_auth long body", CommandPeerAuth, func(h *Header) { h.Size++ }, ErrSize, errPeerAuthBody},
		{"peer_auth with a client", CommandPeerAuth, func(h *Header) { h.Client = Uint128{Lo: 1} }, ErrField, errMustBeZero[CommandPeerAuth][fieldClient]},
		{"sync_checkpoint chunk past the end", CommandSyncCheckpoint, func(h *Header) { h.Commit = h.OpMin + 10 }, ErrField, errSyncCheckpointChunk},
		{"sync_checkpoint no prepare checksum", CommandSyncCheckpoint, func(h *Header) { h.Parent = Uint128{} }, ErrField, errMustBeNonZero[CommandSyncCheckpoint][fieldParent]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validHeader(tt.command)
			tt.mutate(&h)
			err := decodeSealed(h)
			if err == nil {
				t.Fatalf("accepted: %+v", h)
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %q is not %v", err, tt.kind)
			}
			if tt.want != nil && err != error(tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// TestValidateAcceptsEveryEvictionReason: each known reason on a session's
// eviction, and the connection refusal with no client, session or view.
func TestValidateAcceptsEveryEvictionReason(t *testing.T) {
	for r := EvictionReason(1); r < evictionReasonCount; r++ {
		h := validHeader(CommandEviction)
		h.Reason = uint8(r)
		if r == EvictionTooManyConnections {
			h = refusalHeader()
		}
		if err := decodeSealed(h); err != nil {
			t.Errorf("reason %d: %v", r, err)
		}
	}
}

// TestValidateUnusedFieldsMustBeZero sets, for every command, every field the
// command does not use, and expects that exact field to be named.
func TestValidateUnusedFieldsMustBeZero(t *testing.T) {
	for c := Command(1); c < commandCount; c++ {
		spec := commandSpecs[c]
		for f := field(0); f < fieldCount; f++ {
			if spec.uses.has(f) || f == fieldReplica {
				continue
			}
			h := validHeader(c)
			setNonZero(&h, f)
			err := decodeSealed(h)
			if err != error(errMustBeZero[c][f]) {
				t.Errorf("%s with %s set: got %v, want %v", c, fieldNames[f], err, errMustBeZero[c][f])
			}
		}
		for f := field(0); f < fieldCount; f++ {
			if !spec.requires.has(f) {
				continue
			}
			if !spec.uses.has(f) {
				t.Errorf("%s requires %s but does not use it", c, fieldNames[f])
			}
			h := validHeader(c)
			setZero(&h, f)
			err := decodeSealed(h)
			if err != error(errMustBeNonZero[c][f]) {
				t.Errorf("%s with %s zero: got %v, want %v", c, fieldNames[f], err, errMustBeNonZero[c][f])
			}
		}
	}
}

func setNonZero(h *Header, f field) {
	switch f {
	case fieldParent:
		h.Parent = Uint128{Hi: 1}
	case fieldClient:
		h.Client = Uint128{Hi: 1}
	case fieldContext:
		h.Context = Uint128{Hi: 1}
	case fieldOp:
		h.Op = 1
	case fieldCommit:
		h.Commit = 1
	case fieldTimestamp:
		h.Timestamp = 1
	case fieldSession:
		h.Session = 1
	case fieldOpMin:
		h.OpMin = 1
	case fieldLogView:
		h.LogView = 1
	case fieldRequest:
		h.Request = 1
	case fieldOperation:
		h.Operation = OperationUserMin
	case fieldReason:
		h.Reason = 1
	case fieldBody:
		h.Size = HeaderSize + HeaderSize
	}
}

func setZero(h *Header, f field) {
	switch f {
	case fieldParent:
		h.Parent = Uint128{}
	case fieldClient:
		h.Client = Uint128{}
	case fieldContext:
		h.Context = Uint128{}
	case fieldOp:
		h.Op = 0
	case fieldCommit:
		h.Commit = 0
	case fieldTimestamp:
		h.Timestamp = 0
	case fieldSession:
		h.Session = 0
	case fieldOpMin:
		h.OpMin = 0
	case fieldLogView:
		h.LogView = 0
	case fieldRequest:
		h.Request = 0
	case fieldOperation:
		h.Operation = OperationNone
	case fieldReason:
		h.Reason = 0
	case fieldBody:
		h.Size = HeaderSize
	}
}

func TestDecodeHeaderRejectsBytes(t *testing.T) {
	h := validHeader(CommandPrepare)
	msg := sealed(&h)
	var got Header

	if err := DecodeHeader(msg[:HeaderSize-1], &got, &testConfig); !errors.Is(err, ErrShort) {
		t.Errorf("short buffer: %v", err)
	}
	if err := DecodeHeader(nil, &got, &testConfig); !errors.Is(err, ErrShort) {
		t.Errorf("nil buffer: %v", err)
	}
	// A flip anywhere in the header, checksum included, fails the checksum.
	for i := 0; i < HeaderSize; i++ {
		bad := append([]byte(nil), msg[:HeaderSize]...)
		bad[i] ^= 0x10
		if err := DecodeHeader(bad, &got, &testConfig); !errors.Is(err, ErrChecksum) {
			t.Fatalf("flip at byte %d: %v", i, err)
		}
	}
	// A flip in the body fails the body checksum.
	if err := DecodeHeader(msg, &got, &testConfig); err != nil {
		t.Fatal(err)
	}
	body := append([]byte(nil), msg[HeaderSize:]...)
	body[len(body)/2] ^= 1
	if err := VerifyBody(&got, body); !errors.Is(err, ErrChecksumBody) {
		t.Errorf("body flip: %v", err)
	}
	if err := VerifyBody(&got, body[:len(body)-1]); !errors.Is(err, ErrSize) || err != error(errSizeBody) {
		t.Errorf("short body: %v", err)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	err := errPrepareCommit
	want := "wire: invalid field: prepare: commit must be below op"
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
	var fe *FieldError
	if !errors.As(error(errRequestBlocksTooMany), &fe) || fe.Command != CommandRequestBlocks || fe.Field != "body" {
		t.Fatalf("errors.As did not expose the field: %+v", fe)
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"test preset", Config{ReplicaCount: 3, MessageSizeMax: MessageSizeMaxTest}, true},
		{"production preset", Config{ReplicaCount: 5, MessageSizeMax: MessageSizeMaxProduction}, true},
		{"no replicas", Config{ReplicaCount: 0, MessageSizeMax: MessageSizeMaxTest}, false},
		{"too many replicas", Config{ReplicaCount: ReplicaCountMax + 1, MessageSizeMax: MessageSizeMaxTest}, false},
		{"unaligned size", Config{ReplicaCount: 1, MessageSizeMax: 5000}, false},
		{"tiny size", Config{ReplicaCount: 1, MessageSizeMax: 256}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Check()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: Check() = %v", tt.name, err)
		}
	}
}
