package ledger

import (
	"errors"
	"fmt"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// EffectTransferCreated is the kind of the effect a created transfer emits
// when Config.Effects is set.
const EffectTransferCreated outbox.Kind = 1

// Sizes of the fixed records on the wire and in snapshots.
const (
	// AccountSize is the size of an encoded Account.
	AccountSize = 128
	// TransferSize is the size of an encoded Transfer.
	TransferSize = 128
	// IDSize is the size of an id in a lookup body.
	IDSize = 16
	// EventResultSize is the size of one (index, result) pair in a create
	// reply.
	EventResultSize = 8
)

// BatchMaxDefault is the number of events that fit one request of a
// production-sized (1 MiB) cluster: a request travels inside a prepare, so
// its body is 1 MiB minus two headers; (1 MiB - 512 B) / 128 B = 8188.
const BatchMaxDefault = (1<<20 - 2*wire.HeaderSize) / AccountSize

// BatchMaxFor returns the BatchMax for messages of at most messageSizeMax
// bytes (wire.Limits.MessageSizeMax): the number of 128-byte records that
// fit a body, so that lookup replies fit a reply message.
func BatchMaxFor(messageSizeMax uint32) int {
	return (int(messageSizeMax) - 2*wire.HeaderSize) / AccountSize
}

// capacityMax bounds AccountsMax and TransfersMax so that slot indexes fit
// in a uint32 and counts fit the snapshot header.
const capacityMax = 1 << 31

// Config fixes the capacity of a Ledger. All memory is allocated by New.
type Config struct {
	// AccountsMax is the number of accounts the ledger can hold.
	AccountsMax int
	// TransfersMax is the number of transfers the ledger can hold.
	TransfersMax int
	// BatchMax is the number of events (records or ids) a request body may
	// hold. Zero means BatchMaxDefault. It bounds lookup replies to
	// BatchMax×128 bytes; use BatchMaxFor(limits.MessageSizeMax) so that
	// they fit a reply message.
	BatchMax int
	// HashSeed seeds the id indexes' hash. It only affects speed, never
	// results, but it should be the same on every replica (e.g. derived from
	// the cluster id) so that replicas perform alike; an unguessable seed
	// keeps clients from choosing ids that collide in the index.
	HashSeed uint64
	// Effects, when set, makes every created transfer emit one outbox
	// effect (kind EffectTransferCreated, payload the 128-byte transfer as
	// stored, target EffectsTarget): for example a webhook per transfer,
	// delivered exactly once to an idempotent sink. A transfer is refused
	// with ResultOutboxFull rather than created without its effect.
	Effects       *outbox.Emitter
	EffectsTarget []byte
}

// ErrConfig is wrapped by New for an unusable Config.
var ErrConfig = errors.New("ledger: invalid config")

func (c *Config) normalize() error {
	if c.BatchMax == 0 {
		c.BatchMax = BatchMaxDefault
	}
	if c.AccountsMax <= 0 || c.AccountsMax > capacityMax {
		return fmt.Errorf("AccountsMax %d not in [1, %d]: %w", c.AccountsMax, capacityMax, ErrConfig)
	}
	if c.TransfersMax <= 0 || c.TransfersMax > capacityMax {
		return fmt.Errorf("TransfersMax %d not in [1, %d]: %w", c.TransfersMax, capacityMax, ErrConfig)
	}
	if c.BatchMax < 0 || c.BatchMax > capacityMax/AccountSize {
		return fmt.Errorf("BatchMax %d not in [1, %d]: %w", c.BatchMax, capacityMax/AccountSize, ErrConfig)
	}
	return nil
}

var _ outbox.EffectsBound = (*Ledger)(nil)
