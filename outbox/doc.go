// Package outbox is Chronon's durable side-effect outbox: the machinery that
// turns "business logic wants to send an email, call a webhook, charge a
// card" into an effect that happens exactly once across crashes and
// failovers.
//
// The pieces, each in its own file:
//
//   - Effect (effect.go): one side effect. Its ID is derived from the
//     cluster, the op that emitted it and its index within that op, so every
//     replica computes the same ID; it doubles as the idempotency key.
//   - Table (table.go, emit.go, ack_apply.go, due.go, digest.go,
//     snapshot.go): the deterministic, bounded outbox that is part of the
//     replicated state. State machines add effects through an Emitter while
//     a committed request applies, so effects commit atomically with the
//     state change that caused them. Outcomes come back as an
//     OperationOutboxAck request that goes through consensus and is applied
//     with Table.ApplyAck.
//   - Machine (machine.go): the state-machine decorator that makes the
//     table replicated state. It wraps any statemachine.StateMachine,
//     brackets its Apply with the Emitter, applies acks (a local-only
//     operation the primary's dispatcher submits with
//     Replica.SubmitLocal), answers OperationOutboxQuery, and snapshots
//     and digests the inner state and the table together. The replica
//     knows nothing of effects.
//   - Ack (ack.go): the outcome of one attempt and its fixed little-endian
//     encoding in the body of an OperationOutboxAck request.
//   - Dispatcher (dispatcher.go, dispatcher_worker.go): runs beside every
//     replica, outside the deterministic core. The loop that owns the
//     replica calls Step: only while the replica is the normal primary it
//     takes due effects, starts attempts with the idempotency key, the view
//     as fencing token and the attempt number, and submits the acks of that
//     view; a higher view fences off everything older. A Transport carries
//     the attempts (default: goroutines calling a Sink) and hands their
//     outcomes back with Complete; the simulator injects its own transport
//     and clock. Machine.OnAcksCommitted tells it which acks committed
//     (Committed).
//   - Sinks (sink.go, sink_http.go, sink_http_batch.go): FuncSink,
//     KindSink, HTTPSink; BatchSink and HTTPBatchSink (the HTTP batch
//     form). The PostgreSQL and NATS JetStream sinks are Go modules of
//     their own (sinks/postgres, sinks/nats).
//   - Receiver (receiver.go, receiver_store.go): an http.Handler wrapper for
//     endpoints the user controls that rejects stale fencing tokens and
//     deduplicates by key durably (a store on a file, or on any
//     ReceiverFile), so an at-least-once delivery is applied exactly once.
//
// The Table and the Machine follow the rules of a state machine: no
// goroutines, no wall clock, no dependence on map order, no allocation on
// Emit, Apply and ApplyAck.
// The Dispatcher's default transport, the sinks and the Receiver's file use
// goroutines, time and I/O; the Dispatcher's decisions take their clock and
// transport as parameters.
//
// docs/outbox.md states the guarantee precisely and lists how the node and
// state machines integrate the package.
package outbox
