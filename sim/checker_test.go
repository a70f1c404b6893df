package sim

import (
	"errors"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

func invariantOf(err error) string {
	var v *Violation
	if errors.As(err, &v) {
		return v.Invariant
	}
	return ""
}

// sealedPrepare builds a prepare of op after parent holding one request.
func sealedPrepare(cluster, parent wire.Uint128, op uint64, reqBody byte) ([]byte, wire.Uint128) {
	req := wire.Header{Cluster: cluster, Size: wire.HeaderSize + 1, Protocol: wire.ProtocolVersion, Command: wire.CommandRequest, Client: wire.Uint128{Lo: 9}, Request: 1}
	reqMsg := make([]byte, req.Size)
	reqMsg[wire.HeaderSize] = reqBody
	wire.Seal(&req, reqMsg)
	h := wire.Header{Cluster: cluster, Size: wire.HeaderSize + req.Size, Protocol: wire.ProtocolVersion, Command: wire.CommandPrepare, Op: op, Parent: parent}
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], reqMsg)
	wire.Seal(&h, msg)
	return msg, req.Checksum
}

func TestChainCheckerCatchesFork(t *testing.T) {
	cluster := wire.Uint128{Lo: 1}
	c := newChainChecker(cluster)
	root := wire.RootPrepare(cluster).Checksum
	a, _ := sealedPrepare(cluster, root, 1, 'a')
	b, _ := sealedPrepare(cluster, root, 1, 'b')
	c.recordPrepare(a)
	c.recordPrepare(b)
	var ha, hb wire.Header
	ha.Decode(a)
	hb.Decode(b)
	if err := c.commit(0, 1, ha.Checksum); err != nil {
		t.Fatal(err)
	}
	if err := c.commit(1, 1, ha.Checksum); err != nil {
		t.Fatal(err)
	}
	if err := c.commit(2, 1, hb.Checksum); invariantOf(err) != InvariantHashChain {
		t.Fatalf("fork not caught: %v", err)
	}
}

func TestReplyCheckerCatchesWrongReply(t *testing.T) {
	cluster := wire.Uint128{Lo: 1}
	c := newChainChecker(cluster)
	root := wire.RootPrepare(cluster).Checksum
	a, reqA := sealedPrepare(cluster, root, 1, 'a')
	_, reqB := sealedPrepare(cluster, root, 1, 'b')
	c.recordPrepare(a)
	var ha wire.Header
	ha.Decode(a)
	if err := c.commit(0, 1, ha.Checksum); err != nil {
		t.Fatal(err)
	}
	rc := newReplyChecker(c)
	if err := rc.check(&wire.Header{Op: 1, Checksum: wire.Uint128{Lo: 5}}, reqA); err != nil {
		t.Fatal(err)
	}
	if err := rc.check(&wire.Header{Op: 1, Checksum: wire.Uint128{Lo: 6}}, reqA); invariantOf(err) != InvariantReply {
		t.Fatalf("two replies for one request not caught: %v", err)
	}
	if err := rc.check(&wire.Header{Op: 1, Checksum: wire.Uint128{Lo: 7}}, reqB); invariantOf(err) != InvariantReply {
		t.Fatalf("reply naming an op that does not hold the request not caught: %v", err)
	}
	if err := rc.check(&wire.Header{Op: 2, Checksum: wire.Uint128{Lo: 8}}, wire.Uint128{Lo: 99}); invariantOf(err) != InvariantReply {
		t.Fatalf("reply for an uncommitted op not caught: %v", err)
	}
	// An acknowledged request that vanishes from the committed log.
	rc.acks = append(rc.acks, ack{op: 1, request: reqB})
	if err := rc.checkAcked(); invariantOf(err) != InvariantAckedLost {
		t.Fatalf("lost ack not caught: %v", err)
	}
}

func TestLinearizabilityCheckerCatchesStaleRead(t *testing.T) {
	put := kvInput{op: kv.OperationPut, key: "a", value: "1"}
	get := kvInput{op: kv.OperationGet, key: "a"}
	ok := []porcupine.Operation{
		{ClientId: 0, Input: put, Call: 0, Output: kvOutput{result: kv.ResultOK}, Return: 10},
		{ClientId: 1, Input: get, Call: 20, Output: kvOutput{result: kv.ResultOK, value: "1"}, Return: 30},
	}
	if err := checkLinearizable(ok); err != nil {
		t.Fatal(err)
	}
	stale := []porcupine.Operation{ok[0],
		{ClientId: 1, Input: get, Call: 20, Output: kvOutput{result: kv.ResultNotFound}, Return: 30}}
	if err := checkLinearizable(stale); invariantOf(err) != InvariantLinearizable {
		t.Fatalf("stale read not caught: %v", err)
	}
	// An unknown put may have happened: a later read of it is fine.
	unknown := []porcupine.Operation{
		{ClientId: 0, Input: put, Call: 0, Output: unknownOutput{}, Return: 1 << 60},
		{ClientId: 1, Input: get, Call: 20, Output: kvOutput{result: kv.ResultOK, value: "1"}, Return: 30},
	}
	if err := checkLinearizable(unknown); err != nil {
		t.Fatal(err)
	}
}

func TestMachineCatchesDoubleApply(t *testing.T) {
	st, err := kv.New(kv.Config{KeysMax: 4, ValueSizeMax: 8})
	if err != nil {
		t.Fatal(err)
	}
	m := newMachine(st)
	body, _ := kv.AppendPut(nil, []byte("a"), []byte("1"))
	reply := make([]byte, 64)
	ctx := statemachine.Context{Op: 1, Client: wire.Uint128{Lo: 3}, Request: 1}
	m.Apply(&ctx, kv.OperationPut, body, reply)
	// Snapshot and restore keep the record.
	snap := m.Snapshot(nil)
	m2 := newMachine(st)
	if err := m2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if m2.violation != "" || m2.last[ctx.Client] != 1 {
		t.Fatalf("restore lost the record: %+v", m2.last)
	}
	ctx.Op = 2
	m2.Apply(&ctx, kv.OperationPut, body, reply)
	if m2.violation == "" {
		t.Fatal("request applied twice not caught")
	}
}

// TestLivenessCheckerCatchesStall: clients that never stop sending keep
// the cluster from converging; the liveness checker must say so.
func TestLivenessCheckerCatchesStall(t *testing.T) {
	s, err := New(Options{Seed: 1, Replicas: 3, NoFaults: true, Ticks: 50, LivenessTicks: 100})
	if err != nil {
		t.Fatal(err)
	}
	s.sc.requestsPerClient = -1
	s.liveness()
	if invariantOf(s.Err()) != InvariantLiveness {
		t.Fatalf("stall not caught: %v", s.Err())
	}
}
