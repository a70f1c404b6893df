package client

import (
	"context"
	"fmt"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// OutboxEffects returns one page of the cluster's outbox: its counters and
// the effects matching q.Filter after q's cursor, ordered by (op, index),
// at most q.Limit (0: as many as fit one reply). When the result's More is
// set, ask again with the last effect's Op and Index as the cursor.
//
// The query is a request like any other: it goes through consensus, so it
// sees every effect committed before it and the answer is the same on
// every replica. The effects' slices alias the reply and stay valid.
func (c *Client) OutboxEffects(ctx context.Context, q outbox.Query) (outbox.QueryResult, error) {
	reply, err := c.Request(ctx, wire.OperationOutboxQuery, outbox.AppendQuery(nil, q))
	if err != nil {
		return outbox.QueryResult{}, err
	}
	if len(reply) == 0 {
		return outbox.QueryResult{}, ErrNoOutbox
	}
	r, err := outbox.DecodeQueryReply(nil, c.cfg.Cluster, q.Filter, reply)
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrInvalidReply, err)
	}
	if r.Status != outbox.QueryOK {
		return r, fmt.Errorf("%w: the cluster refused the outbox query (filter %d)", ErrInvalidReply, q.Filter)
	}
	return r, nil
}

// AllOutboxEffects pages through every effect matching filter with
// OutboxEffects and returns them with the counters of the last page. Each
// page is a separate query, so on a busy cluster the pages are consecutive
// snapshots, not one: an effect that finishes between pages may be missing.
func (c *Client) AllOutboxEffects(ctx context.Context, filter outbox.QueryFilter) ([]outbox.Effect, outbox.Stats, error) {
	var all []outbox.Effect
	q := outbox.Query{Filter: filter}
	for {
		r, err := c.OutboxEffects(ctx, q)
		if err != nil {
			return all, r.Stats, err
		}
		all = append(all, r.Effects...)
		if !r.More || len(r.Effects) == 0 {
			return all, r.Stats, nil
		}
		last := r.Effects[len(r.Effects)-1]
		q.AfterOp, q.AfterIndex = last.Op, last.Index
	}
}
