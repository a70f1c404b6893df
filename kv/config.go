package kv

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// Static limits of the encoding.
const (
	// KeySizeMax is the largest key, in bytes. Keys are at least 1 byte.
	KeySizeMax = 64
	// ValueSizeLimit is the largest ValueSizeMax a Config may ask for (the
	// value size field is a u16).
	ValueSizeLimit = 1<<16 - 1
	// ValueSizeMaxDefault is the ValueSizeMax of a Config that leaves it 0.
	ValueSizeMaxDefault = 1024
	// ReplySizeLimitDefault is the ReplySizeLimit of a Config that leaves
	// it 0: the body of a production-sized (1 MiB) message.
	ReplySizeLimitDefault = 1<<20 - wire.HeaderSize
)

// ReplySizeLimitFor returns the ReplySizeLimit for messages of at most
// messageSizeMax bytes (wire.Limits.MessageSizeMax): the body of a reply.
func ReplySizeLimitFor(messageSizeMax uint32) int {
	return int(messageSizeMax) - wire.HeaderSize
}

// Config fixes the capacity of a Store. All memory is allocated by New.
type Config struct {
	// KeysMax is the number of keys the store can hold.
	KeysMax int
	// ValueSizeMax is the largest value in bytes; every key reserves this
	// much. Zero means ValueSizeMaxDefault.
	ValueSizeMax int
	// ReplySizeLimit bounds a reply in bytes. Validate rejects a get batch
	// whose reply could exceed it, counting ValueSizeMax per key. Zero means
	// ReplySizeLimitDefault; use ReplySizeLimitFor(limits.MessageSizeMax) so
	// that replies fit a reply message.
	ReplySizeLimit int
	// HashSeed seeds the index's key hash. It must be the same on every
	// replica (e.g. derived from the cluster id); a secret-ish seed makes
	// collision flooding by clients harder.
	HashSeed uint64
}

// ErrConfig is wrapped by New for an unusable Config.
var ErrConfig = errors.New("kv: invalid config")

// keysMaxLimit keeps slot numbers and the index size within uint32.
const keysMaxLimit = 1 << 30

func (c *Config) normalize() error {
	if c.ValueSizeMax == 0 {
		c.ValueSizeMax = ValueSizeMaxDefault
	}
	if c.ReplySizeLimit == 0 {
		c.ReplySizeLimit = ReplySizeLimitDefault
	}
	if c.KeysMax <= 0 || c.KeysMax > keysMaxLimit {
		return fmt.Errorf("KeysMax %d not in [1, %d]: %w", c.KeysMax, keysMaxLimit, ErrConfig)
	}
	if c.ValueSizeMax < 0 || c.ValueSizeMax > ValueSizeLimit {
		return fmt.Errorf("ValueSizeMax %d not in [1, %d]: %w", c.ValueSizeMax, ValueSizeLimit, ErrConfig)
	}
	if c.ReplySizeLimit < getReplyHeaderSize+c.ValueSizeMax {
		return fmt.Errorf("ReplySizeLimit %d below one get reply (%d): %w", c.ReplySizeLimit, getReplyHeaderSize+c.ValueSizeMax, ErrConfig)
	}
	return nil
}
