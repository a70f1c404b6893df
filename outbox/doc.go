// Package outbox will hold Chronon's durable side-effect outbox: effects
// emitted deterministically by the state machine, stored with the state,
// dispatched only by the primary of the current view with an idempotency key
// and a fencing token, and marked done through consensus.
package outbox
