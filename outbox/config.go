package outbox

import (
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// Hard limits: sizes are u16 in every encoding.
const (
	// SizeLimit bounds TargetSizeMax, PayloadSizeMax and ResultSizeMax.
	SizeLimit = 1<<16 - 1
	// EffectsLimit bounds EffectsMax.
	EffectsLimit = 1 << 24
)

// Defaults applied by Config for zero fields.
const (
	DefaultEffectsMax     = 1024
	DefaultTargetSizeMax  = 256
	DefaultPayloadSizeMax = 4096
	DefaultResultSizeMax  = 256
	DefaultAttemptsMax    = 16
	DefaultFailedKeep     = 64
	DefaultBackoffMin     = 100_000_000     // 100 ms in ns
	DefaultBackoffMax     = 600_000_000_000 // 10 min in ns
)

// Config fixes a Table's identity, capacity and retry schedule. Every
// replica of a cluster must use the same Config: it shapes the replicated
// state.
type Config struct {
	// Cluster is mixed into every effect id, so ids (idempotency keys) of
	// different clusters never collide at a shared sink.
	Cluster wire.Uint128
	// EffectsMax is the number of effects the table can hold, pending or
	// retrying. All memory is allocated by NewTable.
	EffectsMax int
	// TargetSizeMax bounds an effect's target (URL or sink name), in bytes.
	TargetSizeMax int
	// PayloadSizeMax bounds an effect's payload, in bytes.
	PayloadSizeMax int
	// ResultSizeMax bounds the result bytes an ack may carry.
	ResultSizeMax int
	// AttemptsMax is the number of attempts after which a retrying effect
	// fails permanently with ReasonAttemptsExhausted.
	AttemptsMax uint32
	// BackoffMin and BackoffMax bound the retry delay in nanoseconds of
	// commit time: attempt n waits BackoffMin × 2^(n-1), capped at
	// BackoffMax, or the sink's hint if that is longer (also capped).
	BackoffMin uint64
	BackoffMax uint64
	// FailedKeep is the number of permanently failed effects the table
	// keeps, the most recent ones, so operators can list them and see why
	// they failed (Table.Failed, Table.Query). 0 means DefaultFailedKeep;
	// a negative value keeps none.
	FailedKeep int
}

// normalize fills defaults and checks ranges.
func (c *Config) normalize() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.EffectsMax, DefaultEffectsMax)
	def(&c.TargetSizeMax, DefaultTargetSizeMax)
	def(&c.PayloadSizeMax, DefaultPayloadSizeMax)
	def(&c.ResultSizeMax, DefaultResultSizeMax)
	if c.AttemptsMax == 0 {
		c.AttemptsMax = DefaultAttemptsMax
	}
	switch {
	case c.FailedKeep == 0:
		c.FailedKeep = DefaultFailedKeep
	case c.FailedKeep < 0:
		c.FailedKeep = 0
	case c.FailedKeep > EffectsLimit:
		return fmt.Errorf("%w: FailedKeep %d above %d", ErrConfig, c.FailedKeep, EffectsLimit)
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	switch {
	case c.EffectsMax < 1 || c.EffectsMax > EffectsLimit:
		return fmt.Errorf("%w: EffectsMax %d not in [1, %d]", ErrConfig, c.EffectsMax, EffectsLimit)
	case c.TargetSizeMax < 1 || c.TargetSizeMax > SizeLimit:
		return fmt.Errorf("%w: TargetSizeMax %d not in [1, %d]", ErrConfig, c.TargetSizeMax, SizeLimit)
	case c.PayloadSizeMax < 0 || c.PayloadSizeMax > SizeLimit:
		return fmt.Errorf("%w: PayloadSizeMax %d not in [0, %d]", ErrConfig, c.PayloadSizeMax, SizeLimit)
	case c.ResultSizeMax < 0 || c.ResultSizeMax > SizeLimit:
		return fmt.Errorf("%w: ResultSizeMax %d not in [0, %d]", ErrConfig, c.ResultSizeMax, SizeLimit)
	case c.BackoffMin > c.BackoffMax:
		return fmt.Errorf("%w: BackoffMin %d above BackoffMax %d", ErrConfig, c.BackoffMin, c.BackoffMax)
	}
	return nil
}

// backoff returns the delay before attempt attempts+1 after attempts
// failed attempts, given the sink's hint, in nanoseconds.
func (c *Config) backoff(attempts uint32, hint uint64) uint64 {
	d := c.BackoffMax
	if attempts >= 1 && attempts <= 64 {
		shift := attempts - 1
		if c.BackoffMin <= c.BackoffMax>>shift {
			d = c.BackoffMin << shift
		}
	}
	if hint > d {
		d = min(hint, c.BackoffMax)
	}
	return d
}
