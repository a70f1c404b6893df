package wire

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/internal/invariants"
)

// SectorSize is the alignment and size granularity of direct I/O. Message
// buffers are aligned to it and message_size_max is a multiple of it, so a
// message can go to disk with O_DIRECT without copying.
const SectorSize = 4096

// Message size limits of the two configuration presets.
const (
	// MessageSizeMaxProduction is message_size_max of the production preset:
	// 1 MiB, room for about 8k 128-byte events in one prepare.
	MessageSizeMaxProduction = 1 << 20
	// MessageSizeMaxTest is message_size_max of the test preset: small, so
	// tests and the simulator exercise full messages and batching limits
	// cheaply.
	MessageSizeMaxTest = 64 << 10
)

// ReplicaCountMax is the largest cluster this wire format addresses
// (replica indexes are u8; VSR deployments use 1, 3 or 5).
const ReplicaCountMax = 6

// Config holds what header validation needs to know about the cluster.
type Config struct {
	// Cluster is the cluster id; a message for another cluster is rejected.
	Cluster Uint128
	// ReplicaCount is the number of replicas; replica indexes must be below it.
	ReplicaCount uint8
	// MessageSizeMax is the largest message (header + body) accepted, a
	// multiple of SectorSize.
	MessageSizeMax uint32
}

// ErrConfig means a Config is unusable.
var ErrConfig = errors.New("wire: invalid config")

// Check returns an error wrapping ErrConfig when c cannot be used.
func (c *Config) Check() error {
	if c.ReplicaCount == 0 || c.ReplicaCount > ReplicaCountMax {
		return fmt.Errorf("%w: replica count %d not in [1, %d]", ErrConfig, c.ReplicaCount, ReplicaCountMax)
	}
	if c.MessageSizeMax < SectorSize || c.MessageSizeMax%SectorSize != 0 {
		return fmt.Errorf("%w: message size max %d is not a positive multiple of %d", ErrConfig, c.MessageSizeMax, SectorSize)
	}
	invariants.Assert(c.MessageSizeMax > HeaderSize, "wire: message size max without room for a header")
	return nil
}
