package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/chronon-db/chronon/wire"
)

// Receiver store file layout (little-endian): an 8-byte magic "chrnrcv1",
// then records appended back to back:
//
//	 0  4 size: total record size, checksum included
//	 4  1 type (1 fence | 2 done)
//	 5  1 reserved (0)
//	 6  2 status (HTTP status of a done record; 0 for fence)
//	 8  4 token (fencing token)
//	12  2 key_size (1..KeySizeMax)
//	14  2 reserved (0)
//	16    key | body (done records only)
//	end-16 16 checksum: xxh3-128 of all preceding record bytes
//
// A fence record raises the key's highest token; a done record stores the
// response to replay. Recovery reads records until the end or the first
// incomplete or corrupt one, and truncates the file there (a torn tail
// from a crash mid-append; nothing after it was ever acknowledged, since
// every answer waits for fsync).
const (
	storeMagic      = "chrnrcv1"
	storeHeaderSize = 16
	storeTrailer    = 16
	recordFence     = 1
	recordDone      = 2
	// KeySizeMax bounds an idempotency key accepted by a Receiver.
	KeySizeMax = 128
	// ResponseSizeMax bounds a response body a Receiver stores.
	ResponseSizeMax = 64 << 10
)

// ErrStore is wrapped by errors of the receiver's store.
var ErrStore = errors.New("outbox: receiver store")

// storeEntry is the recovered state of one key.
type storeEntry struct {
	token  uint32
	done   bool
	status int
	body   []byte
}

// ReceiverFile is the medium under a Receiver's store: a file (OpenReceiver
// opens one) or a simulated one (NewReceiver). Writes are durable once
// Sync returned.
type ReceiverFile interface {
	io.ReaderAt
	io.WriterAt
	// Size is the file's current size in bytes.
	Size() (int64, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// osFile is an *os.File as a ReceiverFile.
type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// store is the receiver's append-only, fsynced dedup log.
type store struct {
	f       ReceiverFile
	size    int64 // where the next record goes
	broken  error // set by a failed append: the tail may hold garbage
	entries map[string]*storeEntry
	buf     []byte
}

// openStoreFile opens or creates the file at path and recovers its entries;
// the directory entry of a new file is made durable.
func openStoreFile(path string, log *slog.Logger) (*store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	s, err := openStore(osFile{f}, log)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s, nil
}

// openStore recovers the entries of f, truncates a torn tail and writes
// the magic to an empty file, durably.
func openStore(f ReceiverFile, log *slog.Logger) (*store, error) {
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	s := &store{f: f, entries: make(map[string]*storeEntry)}
	valid := 0
	if len(data) >= len(storeMagic) {
		if string(data[:len(storeMagic)]) != storeMagic {
			return nil, fmt.Errorf("%w: bad magic", ErrStore)
		}
		valid = len(storeMagic) + s.recover(data[len(storeMagic):])
	}
	if valid < len(data) {
		log.Warn("outbox: receiver store: ignoring torn tail", "offset", valid, "bytes", len(data)-valid)
	}
	if err := s.init(data, valid); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return s, nil
}

// init truncates the file to its valid prefix, writes the magic to a new
// file and makes it durable.
func (s *store) init(data []byte, valid int) error {
	if valid == 0 {
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		if _, err := s.f.WriteAt([]byte(storeMagic), 0); err != nil {
			return err
		}
		valid = len(storeMagic)
	} else if valid < len(data) {
		if err := s.f.Truncate(int64(valid)); err != nil {
			return err
		}
	}
	s.size = int64(valid)
	return s.f.Sync()
}

// recover applies the valid records of b and returns their total size.
func (s *store) recover(b []byte) int {
	off := 0
	for {
		n, typ, status, token, key, body, ok := decodeStoreRecord(b[off:])
		if !ok {
			return off
		}
		s.apply(typ, string(key), token, status, body)
		off += n
	}
}

func decodeStoreRecord(b []byte) (n int, typ byte, status int, token uint32, key, body []byte, ok bool) {
	if len(b) < storeHeaderSize+storeTrailer {
		return
	}
	le := binary.LittleEndian
	size := int(le.Uint32(b[0:]))
	keySize := int(le.Uint16(b[12:]))
	if size < storeHeaderSize+storeTrailer+keySize || size > len(b) ||
		size > storeHeaderSize+KeySizeMax+ResponseSizeMax+storeTrailer {
		return
	}
	sum := wire.Checksum(b[:size-storeTrailer])
	if le.Uint64(b[size-16:]) != sum.Lo || le.Uint64(b[size-8:]) != sum.Hi {
		return
	}
	typ = b[4]
	if b[5] != 0 || le.Uint16(b[14:]) != 0 || keySize == 0 || keySize > KeySizeMax ||
		(typ != recordFence && typ != recordDone) {
		return
	}
	key = b[storeHeaderSize : storeHeaderSize+keySize]
	body = b[storeHeaderSize+keySize : size-storeTrailer]
	if typ == recordFence && len(body) != 0 {
		return
	}
	return size, typ, int(le.Uint16(b[6:])), le.Uint32(b[8:]), key, body, true
}

// apply updates the in-memory state with one record.
func (s *store) apply(typ byte, key string, token uint32, status int, body []byte) {
	e := s.entries[key]
	if e == nil {
		e = &storeEntry{}
		s.entries[key] = e
	}
	e.token = max(e.token, token)
	if typ == recordDone {
		e.done, e.status, e.body = true, status, append([]byte(nil), body...)
	}
}

// append writes one record, fsyncs, and applies it. The caller holds the
// key's lock and the store's lock.
func (s *store) append(typ byte, key string, token uint32, status int, body []byte) error {
	size := storeHeaderSize + len(key) + len(body) + storeTrailer
	le := binary.LittleEndian
	b := s.buf[:0]
	b = le.AppendUint32(b, uint32(size))
	b = append(b, typ, 0)
	b = le.AppendUint16(b, uint16(status))
	b = le.AppendUint32(b, token)
	b = le.AppendUint16(b, uint16(len(key)))
	b = le.AppendUint16(b, 0)
	b = append(b, key...)
	b = append(b, body...)
	sum := wire.Checksum(b)
	b = le.AppendUint64(b, sum.Lo)
	b = le.AppendUint64(b, sum.Hi)
	s.buf = b
	if s.broken != nil {
		return s.broken
	}
	if _, err := s.f.WriteAt(b, s.size); err != nil {
		s.broken = fmt.Errorf("%w: append: %w", ErrStore, err)
		return s.broken
	}
	if err := s.f.Sync(); err != nil {
		// After a failed fsync the page cache state is unknown: refuse
		// everything until the store is reopened and recovered.
		s.broken = fmt.Errorf("%w: fsync: %w", ErrStore, err)
		return s.broken
	}
	s.size += int64(len(b))
	s.apply(typ, key, token, status, body)
	return nil
}

func (s *store) close() error { return s.f.Close() }
