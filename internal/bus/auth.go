package bus

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/chronon-db/chronon/internal/invariants"
	"github.com/chronon-db/chronon/wire"
)

// Peer authentication (docs/protocol.md, "Peer authentication"): with
// cluster keys configured, a replica connection is bound only after a
// three-step handshake of peer_auth messages in which each side proves,
// with HMAC-SHA-256 over both sides' fresh nonces, the cluster id and both
// replica indexes, that it holds a cluster key the other holds too:
//
//	dialer   -> acceptor  step 1 hello:     key ids offered, dialer nonce
//	acceptor -> dialer    step 2 challenge: key id chosen, acceptor nonce, acceptor MAC
//	dialer   -> acceptor  step 3 proof:     dialer MAC
//
// The dialer binds the connection once the acceptor's MAC checks out, the
// acceptor once the dialer's does; before that nothing but these messages
// is sent on it and nothing received is handed to the replica.

// ClusterKeySize is the size of a cluster key in bytes.
const ClusterKeySize = 32

// ClusterKeysMax is the most keys a replica holds at once (a current key
// and the ones accepted during a rotation).
const ClusterKeysMax = 4

// ClusterKey is a secret shared by the replicas of a cluster.
type ClusterKey [ClusterKeySize]byte

// ErrClusterKeys means a cluster key file is malformed.
var ErrClusterKeys = errors.New("bus: invalid cluster keys")

// ParseClusterKeys reads a cluster key file: one key per line, 64
// hexadecimal digits (32 bytes); blank lines and lines starting with '#'
// are ignored. The first key is the current one (offered first); the
// others are accepted as well. Errors name the line, never its content.
func ParseClusterKeys(data []byte) ([]ClusterKey, error) {
	var keys []ClusterKey
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var k ClusterKey
		if len(line) != 2*ClusterKeySize {
			return nil, fmt.Errorf("%w: line %d: want %d hexadecimal digits, got %d characters", ErrClusterKeys, i+1, 2*ClusterKeySize, len(line))
		}
		if _, err := hex.Decode(k[:], line); err != nil {
			return nil, fmt.Errorf("%w: line %d: not hexadecimal", ErrClusterKeys, i+1)
		}
		if k == (ClusterKey{}) {
			return nil, fmt.Errorf("%w: line %d: the all-zero key", ErrClusterKeys, i+1)
		}
		for j := range keys {
			if keys[j] == k {
				return nil, fmt.Errorf("%w: line %d: a key listed twice", ErrClusterKeys, i+1)
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 || len(keys) > ClusterKeysMax {
		return nil, fmt.Errorf("%w: %d keys, want 1 to %d", ErrClusterKeys, len(keys), ClusterKeysMax)
	}
	return keys, nil
}

// keyIDSize is the size of a key id: the first bytes of
// HMAC-SHA-256(key, keyIDLabel). It names a key without revealing it.
const keyIDSize = 8

const (
	keyIDLabel = "chronon cluster key id v1"
	macLabel   = "chronon peer auth v1"
	nonceSize  = 32
	macSize    = sha256.Size
)

// Steps of the handshake (the first byte of a peer_auth body).
const (
	authHello     uint8 = 1
	authChallenge uint8 = 2
	authProof     uint8 = 3
)

// Layout of a peer_auth body (wire.PeerAuthBodySize bytes).
const (
	authOffsetStep     = 0
	authOffsetKeyCount = 1
	authOffsetKeyIDs   = 8
	authOffsetNonce    = authOffsetKeyIDs + ClusterKeysMax*keyIDSize // 40
	authOffsetMAC      = authOffsetNonce + nonceSize                 // 72
	authOffsetEnd      = authOffsetMAC + macSize                     // 104
)

// peerAuth is a decoded peer_auth body.
type peerAuth struct {
	step     uint8
	keyCount uint8
	keyIDs   [ClusterKeysMax][keyIDSize]byte
	nonce    [nonceSize]byte
	mac      [macSize]byte
}

// Errors of decodePeerAuth (prebuilt: decoding never allocates).
var (
	errAuthStep     = errors.New("bus: peer_auth: unknown step")
	errAuthKeyCount = errors.New("bus: peer_auth: key count not allowed in this step")
	errAuthUnused   = errors.New("bus: peer_auth: a field this step does not use is not zero")
	errAuthMissing  = errors.New("bus: peer_auth: a field this step needs is zero")
)

// decodePeerAuth decodes and checks the body of a peer_auth message: its
// size, a known step, and per step which fields are set and which are zero
// (docs/protocol.md). It does not check MACs or key ids.
func decodePeerAuth(body []byte, a *peerAuth) error {
	if len(body) != wire.PeerAuthBodySize {
		return fmt.Errorf("bus: peer_auth: body of %d bytes, want %d", len(body), wire.PeerAuthBodySize)
	}
	a.step, a.keyCount = body[authOffsetStep], body[authOffsetKeyCount]
	for i := range a.keyIDs {
		copy(a.keyIDs[i][:], body[authOffsetKeyIDs+i*keyIDSize:])
	}
	copy(a.nonce[:], body[authOffsetNonce:])
	copy(a.mac[:], body[authOffsetMAC:])
	if !allZero(body[authOffsetKeyCount+1:authOffsetKeyIDs]) || !allZero(body[authOffsetEnd:]) {
		return errAuthUnused
	}
	var wantNonce, wantMAC bool
	switch a.step {
	case authHello:
		if a.keyCount < 1 || a.keyCount > ClusterKeysMax {
			return errAuthKeyCount
		}
		wantNonce = true
	case authChallenge:
		if a.keyCount != 1 {
			return errAuthKeyCount
		}
		wantNonce, wantMAC = true, true
	case authProof:
		if a.keyCount != 0 {
			return errAuthKeyCount
		}
		wantMAC = true
	default:
		return errAuthStep
	}
	if !allZero(body[authOffsetKeyIDs+int(a.keyCount)*keyIDSize : authOffsetNonce]) {
		return errAuthUnused
	}
	if zero := allZero(a.nonce[:]); zero == wantNonce {
		if zero {
			return errAuthMissing
		}
		return errAuthUnused
	}
	if zero := allZero(a.mac[:]); zero == wantMAC {
		if zero {
			return errAuthMissing
		}
		return errAuthUnused
	}
	return nil
}

// encode writes a into body (wire.PeerAuthBodySize bytes).
func (a *peerAuth) encode(body []byte) {
	invariants.Assert(len(body) == wire.PeerAuthBodySize, "bus: peer_auth body of the wrong size")
	clear(body)
	body[authOffsetStep], body[authOffsetKeyCount] = a.step, a.keyCount
	for i := 0; i < int(a.keyCount); i++ {
		copy(body[authOffsetKeyIDs+i*keyIDSize:], a.keyIDs[i][:])
	}
	copy(body[authOffsetNonce:], a.nonce[:])
	copy(body[authOffsetMAC:], a.mac[:])
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// authKeys holds a replica's cluster keys and their ids.
type authKeys struct {
	keys []ClusterKey
	ids  [][keyIDSize]byte
	macs []hash.Hash // one HMAC-SHA-256 per key, reset before each use
}

func newAuthKeys(keys []ClusterKey) (*authKeys, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if len(keys) > ClusterKeysMax {
		return nil, fmt.Errorf("%w: %d cluster keys, at most %d", ErrConfig, len(keys), ClusterKeysMax)
	}
	a := &authKeys{keys: append([]ClusterKey(nil), keys...)}
	for i := range a.keys {
		if a.keys[i] == (ClusterKey{}) {
			return nil, fmt.Errorf("%w: cluster key %d is all zero", ErrConfig, i)
		}
		m := hmac.New(sha256.New, a.keys[i][:])
		m.Write([]byte(keyIDLabel))
		var id [keyIDSize]byte
		copy(id[:], m.Sum(nil))
		a.ids = append(a.ids, id)
		a.macs = append(a.macs, m)
	}
	return a, nil
}

// find returns the index of the key with this id, or -1.
func (a *authKeys) find(id [keyIDSize]byte) int {
	for i := range a.ids {
		if a.ids[i] == id {
			return i
		}
	}
	return -1
}

// mac computes the MAC of a challenge (step authChallenge, by the
// acceptor) or a proof (authProof, by the dialer) with key k:
// HMAC-SHA-256(key, label || step || cluster || dialer || acceptor ||
// key id || dialer nonce || acceptor nonce). The step keeps a challenge
// from serving as a proof (reflection); the nonces of both sides keep an
// old message from serving again (replay); cluster and indexes keep it
// from serving on another connection.
func (a *authKeys) mac(k int, step uint8, cluster wire.Uint128, dialer, acceptor uint8, dialerNonce, acceptorNonce *[nonceSize]byte) [macSize]byte {
	invariants.Assert(step == authChallenge || step == authProof, "bus: MAC of a handshake step without one")
	m := a.macs[k]
	m.Reset()
	var fixed [len(macLabel) + 1 + 16 + 2 + keyIDSize]byte
	n := copy(fixed[:], macLabel)
	fixed[n] = step
	binary.LittleEndian.PutUint64(fixed[n+1:], cluster.Lo)
	binary.LittleEndian.PutUint64(fixed[n+9:], cluster.Hi)
	fixed[n+17], fixed[n+18] = dialer, acceptor
	copy(fixed[n+19:], a.ids[k][:])
	m.Write(fixed[:])
	m.Write(dialerNonce[:])
	m.Write(acceptorNonce[:])
	var out [macSize]byte
	m.Sum(out[:0])
	return out
}

// handshake is a connection's state in the peer handshake.
type handshake struct {
	// step is the step this side sent last: authHello (a dialer waiting
	// for the challenge) or authChallenge (an acceptor waiting for the
	// proof); 0 before the handshake.
	step uint8
	// replica is the dialer's index (claimed in its hello, on the
	// acceptor's side); key the index of the key agreed on.
	replica uint8
	key     int
	// dialerNonce and acceptorNonce are the two sides' fresh nonces.
	dialerNonce, acceptorNonce [nonceSize]byte
}

func freshNonce(n *[nonceSize]byte) {
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails (it crashes the program instead)
}
