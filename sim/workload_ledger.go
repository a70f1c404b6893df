package sim

import (
	"bytes"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// ledgerAccounts is the number of accounts of the ledger workload (ids
// 1..ledgerAccounts, ledger 1, code 1). Accounts up to
// ledgerHistoryAccounts are created with AccountHistory
// (get_account_balances answers them; the others are refused).
const (
	ledgerAccounts        = 4
	ledgerHistoryAccounts = 2
)

// InvariantLedgerRead: a ledger read (lookup_transfers,
// get_account_transfers, get_account_balances) disagrees with what the
// clients learned: an acknowledged transfer missing or changed, one never
// sent (or answered outbox_full) found, an account's history out of
// order, outside its filter, with gaps or wrong balances.
const InvariantLedgerRead = "ledger_read"

// ledgerInput is one ledger request (ledger requests are not fed to the
// linearizability checker; ledgerAudit checks their effects, and the
// replies of reads against what it knows).
type ledgerInput struct {
	op       wire.Operation
	transfer wire.Uint128 // create_transfers: the transfer's id
	ids      int          // lookup_accounts: ids asked for
	// lookup_transfers: the ids asked for, and for each what the reply
	// must say: 1 found (acknowledged created before the request was
	// sent), -1 absent (never sent, or answered outbox_full), 0 either.
	lookup []wire.Uint128
	must   []int8
	// get_account_*: the filter, and how many transfers were
	// acknowledged created when the request was sent (ledgerAudit.acked).
	filter ledger.AccountFilter
	acked  int
}

// ledgerLookupCopies is how often half the lookups name every account: a
// reply of 10 × 4 × 128 bytes, above the test preset's 4 KiB reply slot,
// so the replicas keep it among their few large replies and drop the
// oldest (wire.Limits.RepliesLargeMax; a retry of a dropped one gets
// eviction(reply_dropped)).
const ledgerLookupCopies = 10

// ledgerAudit collects what the ledger clients learned, for the checks of
// read replies and the final exactly-once and no-lost-ack checks.
type ledgerAudit struct {
	acked   []wire.Uint128 // transfers a reply confirmed created, in reply order
	unknown int            // transfers whose outcome no client learned
	// refused are the transfers answered outbox_full: never created
	// (clients do not send them again).
	refused []wire.Uint128

	// sent holds every transfer sent (timestamp 0), sentIDs their ids in
	// order; state what is known of each (transferAcked, transferRefused).
	sent    map[wire.Uint128]ledger.Transfer
	sentIDs []wire.Uint128
	state   map[wire.Uint128]uint8
	// timestamps are the timestamps replies named (a transfer's never
	// changes).
	timestamps map[wire.Uint128]uint64
	// reads counts read replies checked; found the transfers they
	// returned.
	reads, found uint64
}

// What the clients learned of a sent transfer.
const (
	transferAcked   = 1
	transferRefused = 2
)

func (a *ledgerAudit) init() {
	if a.sent == nil {
		a.sent = map[wire.Uint128]ledger.Transfer{}
		a.state = map[wire.Uint128]uint8{}
		a.timestamps = map[wire.Uint128]uint64{}
	}
}

// ledgerClient creates the accounts (idempotently: every client tries),
// then creates transfers of amount 1 between random accounts, looks
// accounts up, and reads transfers back: by id (lookup_transfers of
// acknowledged, earlier and never sent ids) and by account history
// (get_account_transfers, get_account_balances over timestamp ranges
// reaching back to the first transfers, which the replicas have dropped
// from memory into the grid).
type ledgerClient struct {
	audit    *ledgerAudit
	accounts bool
	n        uint64
}

func (w *ledgerClient) next(c *client) (wire.Operation, []byte, any) {
	s := c.sim
	w.audit.init()
	if !w.accounts {
		var body []byte
		for i := 1; i <= ledgerAccounts; i++ {
			a := ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1}
			if i <= ledgerHistoryAccounts {
				a.Flags = ledger.AccountHistory
			}
			body = ledger.AppendAccount(body, &a)
		}
		return ledger.OperationCreateAccounts, body, ledgerInput{op: ledger.OperationCreateAccounts}
	}
	switch k := s.rng.IntN(16); {
	case k < 4:
		copies := 1
		if s.rng.IntN(2) == 0 {
			copies = ledgerLookupCopies
		}
		var body []byte
		for range copies {
			for i := 1; i <= ledgerAccounts; i++ {
				body = ledger.AppendID(body, wire.Uint128{Lo: uint64(i)})
			}
		}
		return ledger.OperationLookupAccounts, body, ledgerInput{op: ledger.OperationLookupAccounts, ids: copies * ledgerAccounts}
	case k < 6:
		return w.lookupTransfers(c)
	case k < 8:
		return w.query(c)
	}
	w.n++
	debit := 1 + s.rng.IntN(ledgerAccounts)
	credit := 1 + (debit+s.rng.IntN(ledgerAccounts-1))%ledgerAccounts
	t := ledger.Transfer{
		ID:              wire.Uint128{Lo: w.n, Hi: c.id.Lo},
		DebitAccountID:  wire.Uint128{Lo: uint64(debit)},
		CreditAccountID: wire.Uint128{Lo: uint64(credit)},
		Amount:          wire.Uint128{Lo: 1},
		UserData64:      s.rng.Uint64(),
		Ledger:          1,
		Code:            1,
	}
	w.audit.sent[t.ID] = t
	w.audit.sentIDs = append(w.audit.sentIDs, t.ID)
	return ledger.OperationCreateTransfers, ledger.AppendTransfer(nil, &t), ledgerInput{op: ledger.OperationCreateTransfers, transfer: t.ID}
}

// lookupTransfers asks for 1..8 ids: acknowledged ones, any sent (the
// oldest more often: the replicas have dropped those from memory), and
// ids never sent.
func (w *ledgerClient) lookupTransfers(c *client) (wire.Operation, []byte, any) {
	s, a := c.sim, w.audit
	in := ledgerInput{op: ledger.OperationLookupTransfers}
	for range 1 + s.rng.IntN(8) {
		var id wire.Uint128
		switch k := s.rng.IntN(8); {
		case k < 3 && len(a.acked) > 0:
			id = a.acked[s.rng.IntN(len(a.acked))]
		case k < 5 && len(a.sentIDs) > 0:
			id = a.sentIDs[s.rng.IntN(min(len(a.sentIDs), 256))]
		case k < 7 && len(a.sentIDs) > 0:
			id = a.sentIDs[s.rng.IntN(len(a.sentIDs))]
		case k == 7:
			// This client's next transfers: not sent before this
			// request's reply.
			id = wire.Uint128{Lo: w.n + 1 + s.rng.Uint64N(4), Hi: c.id.Lo}
		default:
			// No client's id has Hi 1 (clientID).
			id = wire.Uint128{Lo: s.rng.Uint64N(1 << 20), Hi: 1}
		}
		must := int8(-1)
		if _, ok := a.sent[id]; ok {
			switch a.state[id] {
			case transferAcked:
				must = 1
			case transferRefused:
				must = -1
			default:
				must = 0
			}
		}
		in.lookup = append(in.lookup, id)
		in.must = append(in.must, must)
	}
	var body []byte
	for _, id := range in.lookup {
		body = ledger.AppendID(body, id)
	}
	return ledger.OperationLookupTransfers, body, in
}

// query reads an account's history: from the first transfer or from a
// timestamp the clients learned, up to the end or to another one, in
// either order, with a small limit (a reply within the reply slot) or
// none.
func (w *ledgerClient) query(c *client) (wire.Operation, []byte, any) {
	s, a := c.sim, w.audit
	op := ledger.OperationGetAccountTransfers
	if s.rng.IntN(3) == 0 {
		op = ledger.OperationGetAccountBalances
	}
	f := ledger.AccountFilter{AccountID: wire.Uint128{Lo: 1 + s.rng.Uint64N(ledgerAccounts)}}
	f.Flags = []ledger.FilterFlags{ledger.FilterDebits, ledger.FilterCredits, ledger.FilterDebits | ledger.FilterCredits}[s.rng.IntN(3)]
	if s.rng.IntN(3) == 0 {
		f.Flags |= ledger.FilterReversed
	}
	known := func() uint64 {
		if len(a.acked) == 0 {
			return 0
		}
		// The oldest acknowledged transfers more often.
		id := a.acked[s.rng.IntN(min(len(a.acked), 1+s.rng.IntN(len(a.acked))))]
		return a.timestamps[id]
	}
	if s.rng.IntN(3) != 0 {
		f.TimestampMin = known()
	}
	if s.rng.IntN(2) == 0 {
		if m := known(); m >= f.TimestampMin {
			f.TimestampMax = m
		}
	}
	if s.rng.IntN(8) != 0 {
		f.Limit = 1 + s.rng.Uint32N(16)
	}
	return op, ledger.AppendFilter(nil, &f), ledgerInput{op: op, filter: f, acked: len(a.acked)}
}

func (w *ledgerClient) reply(c *client, input any, body []byte) (any, error) {
	in := input.(ledgerInput)
	a := w.audit
	switch in.op {
	case ledger.OperationCreateAccounts:
		if len(body)%ledger.EventResultSize != 0 {
			return nil, violation(InvariantWorkload, "create_accounts reply of %d bytes", len(body))
		}
		for b := body; len(b) > 0; b = b[ledger.EventResultSize:] {
			if r := ledger.DecodeEventResult(b); r.Result != ledger.ResultExists {
				return nil, violation(InvariantWorkload, "create_accounts event %d: %v", r.Index, r.Result)
			}
		}
		w.accounts = true
	case ledger.OperationCreateTransfers:
		if len(body) != 0 {
			r := ledger.DecodeEventResult(body)
			if len(body) == ledger.EventResultSize && r.Index == 0 && r.Result == ledger.ResultOutboxFull {
				// Legitimate only where the table was full as the op was
				// applied: every replica checks that (checkEffectRoom),
				// and the final audit that it was never created.
				c.sim.stats.Outbox.OutboxFull++
				a.refused = append(a.refused, in.transfer)
				a.state[in.transfer] = transferRefused
				return nil, nil
			}
			return nil, violation(InvariantExactlyOnce, "transfer %x:%x was not created exactly once: %v", in.transfer.Hi, in.transfer.Lo, r.Result)
		}
		a.acked = append(a.acked, in.transfer)
		a.state[in.transfer] = transferAcked
	case ledger.OperationLookupAccounts:
		if len(body)%ledger.AccountSize != 0 || len(body) > in.ids*ledger.AccountSize {
			return nil, violation(InvariantWorkload, "lookup_accounts reply of %d bytes", len(body))
		}
		var debits, credits uint64
		for b := body; len(b) > 0; b = b[ledger.AccountSize:] {
			var acc ledger.Account
			acc.Decode(b)
			debits += acc.DebitsPosted.Lo
			credits += acc.CreditsPosted.Lo
		}
		if debits != credits {
			return nil, violation(InvariantWorkload, "lookup_accounts saw %d debits and %d credits posted", debits, credits)
		}
	case ledger.OperationLookupTransfers:
		a.reads++
		return nil, w.checkLookup(&in, body)
	case ledger.OperationGetAccountTransfers, ledger.OperationGetAccountBalances:
		a.reads++
		return nil, w.checkQuery(&in, body)
	}
	return nil, nil
}

// checkTransfer checks a transfer a read returned against the one sent,
// and its timestamp against the one other replies named.
func (a *ledgerAudit) checkTransfer(t *ledger.Transfer, what string) error {
	sent, ok := a.sent[t.ID]
	if !ok {
		return violation(InvariantLedgerRead, "%s returned transfer %x:%x, which no client sent", what, t.ID.Hi, t.ID.Lo)
	}
	if a.state[t.ID] == transferRefused {
		return violation(InvariantLedgerRead, "%s returned transfer %x:%x, which was answered outbox_full", what, t.ID.Hi, t.ID.Lo)
	}
	got := *t
	got.Timestamp = 0
	if got != sent {
		return violation(InvariantLedgerRead, "%s returned transfer %x:%x as %+v; it was sent as %+v", what, t.ID.Hi, t.ID.Lo, got, sent)
	}
	return a.learnTimestamp(t.ID, t.Timestamp, what)
}

func (a *ledgerAudit) learnTimestamp(id wire.Uint128, ts uint64, what string) error {
	if ts == 0 {
		return violation(InvariantLedgerRead, "%s returned transfer %x:%x without a timestamp", what, id.Hi, id.Lo)
	}
	if prev, ok := a.timestamps[id]; ok && prev != ts {
		return violation(InvariantLedgerRead, "%s returned transfer %x:%x with timestamp %d; an earlier reply said %d", what, id.Hi, id.Lo, ts, prev)
	}
	a.timestamps[id] = ts
	a.found++
	return nil
}

// checkLookup checks a lookup_transfers reply: the transfers found, in
// request order, each as sent; every acknowledged one found; none never
// sent or refused.
func (w *ledgerClient) checkLookup(in *ledgerInput, body []byte) error {
	a := w.audit
	if len(body)%ledger.TransferSize != 0 || len(body) > len(in.lookup)*ledger.TransferSize {
		return violation(InvariantLedgerRead, "lookup_transfers reply of %d bytes for %d ids", len(body), len(in.lookup))
	}
	for i, id := range in.lookup {
		var t ledger.Transfer
		if len(body) > 0 {
			t.Decode(body)
		}
		switch {
		case len(body) > 0 && t.ID == id:
			body = body[ledger.TransferSize:]
			if in.must[i] < 0 {
				return violation(InvariantLedgerRead, "lookup_transfers found transfer %x:%x, which was never created", id.Hi, id.Lo)
			}
			if err := a.checkTransfer(&t, "lookup_transfers"); err != nil {
				return err
			}
		case in.must[i] > 0:
			return violation(InvariantLedgerRead, "lookup_transfers did not find acknowledged transfer %x:%x", id.Hi, id.Lo)
		}
	}
	if len(body) != 0 {
		return violation(InvariantLedgerRead, "lookup_transfers returned %d records beyond the ids asked for, or out of their order", len(body)/ledger.TransferSize)
	}
	return nil
}

// checkQuery checks a get_account_transfers or get_account_balances
// reply against the filter and what the clients know: records in
// timestamp order inside the range, each a transfer of the account on a
// side asked for; no acknowledged transfer of the range with a known
// timestamp left out before the last record (or at all when more is not
// set); balances moving by one transfer of 1 at a time.
func (w *ledgerClient) checkQuery(in *ledgerInput, body []byte) error {
	a, f := w.audit, &in.filter
	name := ledger.OperationName(in.op)
	h, recs, err := ledger.DecodeQueryReply(in.op, body)
	if err != nil {
		return violation(InvariantLedgerRead, "%s reply: %v", name, err)
	}
	want := ledger.QueryOK
	if in.op == ledger.OperationGetAccountBalances && f.AccountID.Lo > ledgerHistoryAccounts {
		want = ledger.QueryAccountHistoryNotEnabled
	}
	if h.Result != want {
		return violation(InvariantLedgerRead, "%s of account %d: result %v, want %v", name, f.AccountID.Lo, h.Result, want)
	}
	if f.Limit > 0 && h.Count > f.Limit {
		return violation(InvariantLedgerRead, "%s returned %d records, above the limit %d", name, h.Count, f.Limit)
	}
	if h.More && h.Count == 0 {
		return violation(InvariantLedgerRead, "%s returned no record but says more match", name)
	}
	hi := f.TimestampMax
	if hi == 0 {
		hi = ^uint64(0)
	}
	reversed := f.Flags&ledger.FilterReversed != 0
	returned := map[wire.Uint128]bool{}
	var last uint64
	var prevD, prevC uint64
	for i := 0; i < int(h.Count); i++ {
		rec := recs[i*ledger.TransferSize : (i+1)*ledger.TransferSize]
		var id wire.Uint128
		var ts uint64
		if in.op == ledger.OperationGetAccountTransfers {
			var t ledger.Transfer
			t.Decode(rec)
			if err := a.checkTransfer(&t, name); err != nil {
				return err
			}
			id, ts = t.ID, t.Timestamp
		} else {
			var b ledger.AccountBalance
			b.Decode(rec)
			if !b.DebitsPending.IsZero() || !b.CreditsPending.IsZero() || b.DebitsPosted.Hi != 0 || b.CreditsPosted.Hi != 0 || !bytes.Equal(rec[88:], make([]byte, 40)) {
				return violation(InvariantLedgerRead, "%s of account %d: record %d %+v has pending balances or reserved bytes", name, f.AccountID.Lo, i, b)
			}
			if _, ok := a.sent[b.TransferID]; !ok {
				return violation(InvariantLedgerRead, "%s of account %d names transfer %x:%x, which no client sent", name, f.AccountID.Lo, b.TransferID.Hi, b.TransferID.Lo)
			}
			if err := a.learnTimestamp(b.TransferID, b.Timestamp, name); err != nil {
				return err
			}
			id, ts = b.TransferID, b.Timestamp
			// Every transfer moves 1 on one side of the account: the
			// side the filter selects moves by exactly one per record
			// (both selected: their sum).
			d, c := b.DebitsPosted.Lo, b.CreditsPosted.Lo
			if i > 0 {
				step := func(now, before uint64) uint64 {
					if reversed {
						return before - now
					}
					return now - before
				}
				var moved uint64
				if f.Flags&ledger.FilterDebits != 0 {
					moved += step(d, prevD)
				}
				if f.Flags&ledger.FilterCredits != 0 {
					moved += step(c, prevC)
				}
				if moved != 1 {
					return violation(InvariantLedgerRead, "%s of account %d: balances %d/%d then %d/%d across consecutive records", name, f.AccountID.Lo, prevD, prevC, d, c)
				}
			}
			prevD, prevC = d, c
		}
		t := a.sent[id]
		side := (f.Flags&ledger.FilterDebits != 0 && t.DebitAccountID == f.AccountID) || (f.Flags&ledger.FilterCredits != 0 && t.CreditAccountID == f.AccountID)
		if !side {
			return violation(InvariantLedgerRead, "%s of account %d (flags %d) returned transfer %x:%x of %d -> %d", name, f.AccountID.Lo, f.Flags, id.Hi, id.Lo, t.DebitAccountID.Lo, t.CreditAccountID.Lo)
		}
		if ts < f.TimestampMin || ts > hi {
			return violation(InvariantLedgerRead, "%s of account %d returned timestamp %d outside [%d, %d]", name, f.AccountID.Lo, ts, f.TimestampMin, f.TimestampMax)
		}
		if i > 0 && (reversed && ts >= last || !reversed && ts <= last) {
			return violation(InvariantLedgerRead, "%s of account %d: timestamp %d after %d (reversed %v)", name, f.AccountID.Lo, ts, last, reversed)
		}
		last = ts
		returned[id] = true
	}
	if want != ledger.QueryOK {
		return nil
	}
	// Completeness over what the clients know.
	for _, id := range a.acked[:in.acked] {
		t := a.sent[id]
		if !(f.Flags&ledger.FilterDebits != 0 && t.DebitAccountID == f.AccountID) && !(f.Flags&ledger.FilterCredits != 0 && t.CreditAccountID == f.AccountID) {
			continue
		}
		ts, ok := a.timestamps[id]
		if !ok || ts < f.TimestampMin || ts > hi || returned[id] {
			continue
		}
		if h.More && (h.Count == 0 || reversed && ts <= last || !reversed && ts >= last) {
			continue // beyond the page
		}
		return violation(InvariantLedgerRead, "%s of account %d [%d, %d] flags %d limit %d left out acknowledged transfer %x:%x (timestamp %d; %d records, more %v)",
			name, f.AccountID.Lo, f.TimestampMin, f.TimestampMax, f.Flags, f.Limit, id.Hi, id.Lo, ts, h.Count, h.More)
	}
	return nil
}

func (w *ledgerClient) abandon(_ *client, input any) {
	if in := input.(ledgerInput); in.op == ledger.OperationCreateTransfers {
		w.audit.unknown++
	}
}
