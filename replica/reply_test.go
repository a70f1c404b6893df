package replica

import (
	"bytes"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestLargeRepliesAreBoundedAndDroppedOldestFirst: replies up to
// ReplySlotSize live in reply slots; of the larger ones the table keeps
// RepliesLargeMax, dropping the body of the oldest when a newer one comes.
// A retry of a request whose reply was kept gets it again; a retry of one
// whose reply was dropped gets eviction(reply_dropped), never another
// reply. The checkpoint of the table decodes to the same table.
func TestLargeRepliesAreBoundedAndDroppedOldestFirst(t *testing.T) {
	edit := func(c *Config) { c.Limits.RepliesLargeMax = 2 }
	o := newOne(t, 1, 0, edit)
	cfg := o.cfg
	type client struct {
		id      wire.Uint128
		session uint64
		req1    []byte
		reply   wire.Header
	}
	var clients []*client
	for i := range 3 {
		c := &client{id: wire.Uint128{Lo: uint64(50 + i)}}
		out := o.send(rawRequest(cfg, c.id, 0, 0, wire.Uint128{}, 0))
		if len(out) != 1 || out[0].Command != wire.CommandReply {
			t.Fatalf("register %d: %+v", i, out)
		}
		c.session = out[0].Session
		c.req1 = rawRequest(cfg, c.id, c.session, 1, out[0].Checksum, bigReply|1)
		out = o.send(c.req1)
		if len(out) != 1 || out[0].Command != wire.CommandReply || out[0].Size != wire.HeaderSize+bigReplySize {
			t.Fatalf("client %d request 1: %+v", i, out)
		}
		c.reply = out[0]
		clients = append(clients, c)
	}
	if o.r.clients.large != 2 || o.r.Counters.RepliesDropped != 1 {
		t.Fatalf("large replies %d, dropped %d; want 2 and 1", o.r.clients.large, o.r.Counters.RepliesDropped)
	}
	if e := o.r.clients.get(clients[0].id); !e.dropped || e.large || e.replyHeader.Checksum != clients[0].reply.Checksum {
		t.Fatalf("oldest large reply: dropped %v, large %v", e.dropped, e.large)
	}
	if held := o.r.MessagesHeld(); held != 2 {
		t.Fatalf("MessagesHeld %d, want the 2 large replies", held)
	}
	// The retry of the dropped one: an eviction, no second execution.
	out := o.send(clients[0].req1)
	if len(out) != 1 || out[0].Command != wire.CommandEviction || wire.EvictionReason(out[0].Reason) != wire.EvictionReplyDropped {
		t.Fatalf("retry of a dropped reply: %+v", out)
	}
	if o.r.Counters.DropReplyDropped != 1 || o.sm.applied[[2]uint64{clients[0].id.Lo, 1}] != 1 {
		t.Fatalf("DropReplyDropped %d, applied %d times", o.r.Counters.DropReplyDropped, o.sm.applied[[2]uint64{clients[0].id.Lo, 1}])
	}
	// The retries of the kept ones: the same replies.
	for _, c := range clients[1:] {
		out := o.send(c.req1)
		if len(out) != 1 || out[0].Command != wire.CommandReply || out[0].Checksum != c.reply.Checksum {
			t.Fatalf("retry of a kept large reply: %+v, want %x", out, c.reply.Checksum)
		}
	}
	// A small reply replaces a large one: its room returns.
	c := clients[1]
	out = o.send(rawRequest(cfg, c.id, c.session, 2, c.reply.Checksum, 1))
	if len(out) != 1 || out[0].Command != wire.CommandReply || o.r.clients.large != 1 {
		t.Fatalf("small reply after a large one: %+v, large %d", out, o.r.clients.large)
	}

	// The table through a checkpoint: same digest, same flags, same bytes.
	blob := o.r.encodeSessions(nil)
	if uint64(len(blob)) > SessionsSizeMax(cfg.Limits) {
		t.Fatalf("encoded sessions %d bytes above SessionsSizeMax %d", len(blob), SessionsSizeMax(cfg.Limits))
	}
	o2 := newOne(t, 1, 0, edit)
	if err := o2.r.decodeSessions(blob); err != nil {
		t.Fatal(err)
	}
	if o2.r.clients.digest() != o.r.clients.digest() || o2.r.clients.large != 1 {
		t.Fatalf("restored table: digest differs or %d large replies", o2.r.clients.large)
	}
	if e := o2.r.clients.get(clients[0].id); !e.dropped {
		t.Fatal("restored table lost the dropped flag")
	}
	if again := o2.r.encodeSessions(nil); !bytes.Equal(again, blob) {
		t.Fatal("restored table encodes to other bytes")
	}
	// A table with more large replies than this replica keeps is refused.
	o3 := newOne(t, 1, 0, func(c *Config) { c.Limits.RepliesLargeMax = 1 })
	if out := o.send(rawRequest(cfg, c.id, c.session, 3, out[0].Checksum, bigReply|1)); len(out) != 1 || o.r.clients.large != 2 {
		t.Fatalf("large reply after a small one: %+v, large %d", out, o.r.clients.large)
	}
	if err := o3.r.decodeSessions(o.r.encodeSessions(nil)); err == nil {
		t.Fatal("decoded a table with more large replies than RepliesLargeMax")
	}
}
