package ledger

// lookupAccounts writes the accounts of the ids in input, in request order,
// skipping ids that are not found.
func (l *Ledger) lookupAccounts(input, reply []byte) int {
	w := 0
	for i := 0; i+IDSize <= len(input); i += IDSize {
		if j, ok := l.accountIndex.get(getUint128(input[i:])); ok {
			l.accounts[j].Encode(reply[w:])
			w += AccountSize
		}
	}
	return w
}

// lookupTransfers writes the transfers of the ids in input, in request
// order, skipping ids that are not found.
func (l *Ledger) lookupTransfers(input, reply []byte) int {
	w := 0
	for i := 0; i+IDSize <= len(input); i += IDSize {
		if j, ok := l.transferIndex.get(getUint128(input[i:])); ok {
			l.transferAt(j).Encode(reply[w:])
			w += TransferSize
		}
	}
	return w
}
