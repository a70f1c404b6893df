// Package kv is Chronon's replicated key-value store: a deterministic state
// machine (statemachine.StateMachine) with batched put, get, delete and
// compare-and-set operations on byte-string keys (1..64 bytes) and values
// (0..Config.ValueSizeMax bytes).
//
// A request body holds N operations of one kind, each a length-prefixed
// little-endian record (see encoding.go); the reply holds one result per
// operation, in order, and for get the value. A body that Validate rejects
// changes nothing and is answered with the single byte ResultInvalid.
//
// Capacity is fixed by Config at construction and all memory is allocated
// then: a slot per key with the key inline and the value in a fixed-size
// slot of a slab, and an open-addressing index without tombstones. A put of
// a new key into a full store is answered with ResultFull. Apply does not
// allocate.
//
// The digest is the sum modulo 2^128 of the xxh3-128 hashes of all records,
// updated on every change; snapshots list the records sorted by key, so
// they are the same on every replica whatever the history of slots.
//
// Encodings, result codes and benchmark numbers are documented in
// docs/state-machines.md.
package kv
