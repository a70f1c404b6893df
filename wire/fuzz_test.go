package wire

import (
	"bytes"
	"testing"
)

// FuzzDecodeHeader feeds arbitrary bytes to DecodeHeader. It must never
// panic, and a header it accepts must re-encode to the same bytes and
// validate again.
func FuzzDecodeHeader(f *testing.F) {
	for c := Command(0); c < commandCount+1; c++ {
		h := validHeader(c)
		f.Add(sealed(&h))
	}
	refusal := refusalHeader()
	f.Add(sealed(&refusal))
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// FuzzValidateHeader fixes up the header checksum of arbitrary bytes before
// decoding, so the fuzzer explores the field rules rather than stopping at
// the checksum.
func FuzzValidateHeader(f *testing.F) {
	for c := Command(0); c < commandCount+1; c++ {
		h := validHeader(c)
		f.Add(sealed(&h))
	}
	refusal := refusalHeader()
	f.Add(sealed(&refusal))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < HeaderSize {
			return
		}
		data = append([]byte(nil), data...)
		putUint128(data[OffsetChecksum:], checksumHeader(data))
		checkDecode(t, data)
	})
}

func checkDecode(t *testing.T, data []byte) {
	var h Header
	err := DecodeHeader(data, &h, &testConfig)
	if err != nil {
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		return
	}
	var again [HeaderSize]byte
	h.Encode(again[:])
	if !bytes.Equal(again[:], data[:HeaderSize]) {
		t.Fatalf("accepted header re-encodes differently")
	}
	if err := h.Validate(&testConfig); err != nil {
		t.Fatalf("accepted header fails Validate: %v", err)
	}
	if h.Size < HeaderSize || h.Size > testConfig.MessageSizeMax || !h.Command.Valid() {
		t.Fatalf("accepted header breaks a common rule: %+v", h)
	}
	// Body verification never panics, whatever the remaining bytes are.
	_ = VerifyBody(&h, data[HeaderSize:])
}
