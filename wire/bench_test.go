package wire

import "testing"

// BenchmarkHeaderDecode measures checksum verification and validation of one
// 256-byte header: the per-message cost before a body is read.
func BenchmarkHeaderDecode(b *testing.B) {
	h := validHeader(CommandPrepare)
	h.Size = HeaderSize
	msg := sealed(&h)
	var got Header
	b.SetBytes(HeaderSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeHeader(msg, &got, &testConfig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBodyVerify1MiB measures the body checksum check of a full 1 MiB
// production message.
func BenchmarkBodyVerify1MiB(b *testing.B) {
	cfg := testConfig
	cfg.MessageSizeMax = MessageSizeMaxProduction
	h := validHeader(CommandPrepare)
	h.Size = MessageSizeMaxProduction
	msg := sealed(&h)
	var got Header
	if err := DecodeHeader(msg, &got, &cfg); err != nil {
		b.Fatal(err)
	}
	body := msg[HeaderSize:]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyBody(&got, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal1MiB measures sealing (body checksum, encode, header
// checksum) of a full 1 MiB production message.
func BenchmarkSeal1MiB(b *testing.B) {
	h := validHeader(CommandPrepare)
	h.Size = MessageSizeMaxProduction
	msg := make([]byte, h.Size)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		Seal(&h, msg)
	}
}

// BenchmarkSealHeader measures sealing a header-only message.
func BenchmarkSealHeader(b *testing.B) {
	h := validHeader(CommandPrepareOK)
	msg := make([]byte, HeaderSize)
	b.SetBytes(HeaderSize)
	b.ReportAllocs()
	for b.Loop() {
		Seal(&h, msg)
	}
}

// BenchmarkRejectHostile measures the drop path: a header with a valid
// checksum that fails validation must not allocate either.
func BenchmarkRejectHostile(b *testing.B) {
	h := validHeader(CommandPrepare)
	h.Reserved[5] = 1
	msg := sealed(&h)
	var got Header
	b.ReportAllocs()
	for b.Loop() {
		if DecodeHeader(msg, &got, &testConfig) == nil {
			b.Fatal("accepted")
		}
	}
}
