package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The write-ahead log: a file beside the bbolt file (its path with "-wal" appended) where the
// writer makes each group of appends durable with one sequential write and one fdatasync, before
// bbolt has them.
//
// Why. A bbolt commit of a group that touches many documents rewrites each document's log leaf
// and bucket pages at new places in the file and syncs twice (the pages, then the meta page): at
// 100 documents typing, tens of scattered pages and two flushes of the disk per group, all on the
// path of every acknowledgement. The log turns that into one append and one flush; bbolt takes
// the same entries behind it (apply.go), in larger commits of its own that no acknowledgement
// waits for.
//
// Layout. Two header slots, at offsets 0 and 512 (each within one sector, so that a torn write
// spoils one slot at most), then records from offset 4096:
//
//	slot      "tandemwl" | epoch (8, big-endian) | CRC-32C of the 16 bytes before it (4)
//	record    CRC-32C of what follows it (4) | length of the body (4) | epoch (8) | body
//	body      sequence number (8) | document ID length (uvarint) | document ID | entry
//
// The valid slot with the larger epoch names the log's epoch. The log holds the records from
// offset 4096 that carry that epoch and a good checksum, up to the first that does not: a record
// torn by a crash ends the log, and so does one left from an earlier epoch. Emptying the log
// (reset) writes the next epoch into the other slot and syncs it, so no record is ever erased:
// records of older epochs simply stop counting, and the file is overwritten from 4096 on.
//
// Every integer is big-endian; all numbers are unsigned.
const (
	walSuffix     = "-wal"
	walMagic      = "tandemwl"
	walSlotBytes  = 512
	walDataOffset = 4096
	walSlotLen    = len(walMagic) + 8 + 4
	walRecHead    = 4 + 4 + 8 // crc, length, epoch
	// walMaxBody bounds a record's body: an entry (at most MaxValueBytes) with its sequence number
	// and document ID. A length above it ends the log as a torn record does.
	walMaxBody = MaxValueBytes + 8 + binary.MaxVarintLen64 + MaxDocIDBytes
)

var walTable = crc32.MakeTable(crc32.Castagnoli)

// wal is the open log file. Only the writer goroutine uses it after Open.
type wal struct {
	f      *os.File
	path   string
	epoch  uint64
	off    int64 // where the next record goes
	alloc  int64 // the file's size: bytes before it have been written (with zeros at least)
	noSync bool
}

// walGrowBytes is how far the log file grows at a time, by writing zeros. A record then
// overwrites blocks that exist already, so its fdatasync flushes data alone: a write that grows
// a file also makes fdatasync commit the file system's journal (the new size), which costs more
// and waits behind every other file's metadata.
const walGrowBytes = 1 << 20

// walRecord is one append read back from the log.
type walRecord struct {
	docID string
	seq   uint64
	data  []byte
}

// walPath returns the log's path for the store at path.
func walPath(path string) string { return path + walSuffix }

// openWAL opens (or creates) the log of the store at path and returns the records it holds, in
// the order they were written. A new file gets its first header slot synced, and its directory.
func openWAL(path string, noSync bool) (*wal, []walRecord, error) {
	p := walPath(path)
	_, err := os.Stat(p)
	fresh := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("write-ahead log: %w", err)
	}
	w := &wal{f: f, path: p, off: walDataOffset, noSync: noSync}
	if info, err := f.Stat(); err == nil {
		w.alloc = info.Size()
	}
	var recs []walRecord
	if fresh {
		err = w.writeSlot(1)
		if err == nil && !noSync {
			err = syncDir(filepath.Dir(p))
		}
	} else if recs, err = w.read(); err == nil && w.epoch == 0 {
		err = w.writeSlot(1)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("write-ahead log %s: %w", p, err)
	}
	return w, recs, nil
}

// read finds the current epoch and reads the log's records, leaving w.off after the last.
func (w *wal) read() ([]walRecord, error) {
	var head [walDataOffset]byte
	n, err := io.ReadFull(w.f, head[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for slot := range 2 {
		b := head[slot*walSlotBytes:]
		if n < slot*walSlotBytes+walSlotLen {
			continue
		}
		if e, ok := decodeSlot(b[:walSlotLen]); ok && e > w.epoch {
			w.epoch = e
		}
	}
	if w.epoch == 0 {
		// Neither slot is valid: the file's creation was cut short before its first slot was
		// synced (nothing was ever acknowledged from it), or the file is not a log.
		if n > 0 && string(head[:len(walMagic)]) != walMagic && string(head[walSlotBytes:walSlotBytes+len(walMagic)]) != walMagic {
			return nil, fmt.Errorf("%w: not a write-ahead log", ErrCorrupt)
		}
		return nil, nil
	}
	var recs []walRecord
	r := bufio.NewReaderSize(io.NewSectionReader(w.f, walDataOffset, 1<<62), 1<<16)
	var rh [walRecHead]byte
	for {
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			break // the end of the file, or a record header cut short
		}
		sum, length, epoch := binary.BigEndian.Uint32(rh[0:]), binary.BigEndian.Uint32(rh[4:]), binary.BigEndian.Uint64(rh[8:])
		if epoch != w.epoch || length > walMaxBody || length < 9 {
			break
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			break
		}
		crc := crc32.Update(crc32.Checksum(rh[4:], walTable), walTable, body)
		if crc != sum {
			break
		}
		rec, ok := decodeWALBody(body)
		if !ok {
			break
		}
		recs = append(recs, rec)
		w.off += int64(walRecHead) + int64(length)
	}
	return recs, nil
}

// decodeSlot returns the epoch in a header slot, and whether the slot is valid.
func decodeSlot(b []byte) (uint64, bool) {
	if string(b[:len(walMagic)]) != walMagic {
		return 0, false
	}
	if crc32.Checksum(b[:len(walMagic)+8], walTable) != binary.BigEndian.Uint32(b[len(walMagic)+8:]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[len(walMagic):]), true
}

// decodeWALBody splits a record's body; the body's bytes are kept, not copied.
func decodeWALBody(b []byte) (walRecord, bool) {
	seq := binary.BigEndian.Uint64(b)
	idLen, n := binary.Uvarint(b[8:])
	if n <= 0 || idLen == 0 || idLen > MaxDocIDBytes || uint64(len(b)-8-n) < idLen {
		return walRecord{}, false
	}
	id := b[8+n : 8+n+int(idLen)]
	return walRecord{docID: string(id), seq: seq, data: b[8+n+int(idLen):]}, true
}

// appendWALRecord appends to buf the record of entry data at seq of docID in epoch, and returns
// the extended buffer and where the entry's bytes start in it.
func appendWALRecord(buf []byte, epoch uint64, docID string, seq uint64, data []byte) ([]byte, int) {
	start := len(buf)
	body := 8 + uvarintLen(uint64(len(docID))) + len(docID) + len(data)
	buf = binary.BigEndian.AppendUint32(buf, 0) // the checksum, filled below
	buf = binary.BigEndian.AppendUint32(buf, uint32(body))
	buf = binary.BigEndian.AppendUint64(buf, epoch)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = binary.AppendUvarint(buf, uint64(len(docID)))
	buf = append(buf, docID...)
	at := len(buf)
	buf = append(buf, data...)
	binary.BigEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], walTable))
	return buf, at
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// append writes records (built by appendWALRecord in w's epoch) after the log's end and syncs
// them: when it returns nil, they survive a crash and a power loss.
func (w *wal) append(records []byte) error {
	if end := w.off + int64(len(records)); end > w.alloc {
		from := max(w.alloc, walDataOffset) // never over the header slots
		to := max(end, from+walGrowBytes)
		if _, err := w.f.WriteAt(make([]byte, to-from), from); err != nil {
			return fmt.Errorf("write-ahead log %s: grow: %w", w.path, err)
		}
		w.alloc = to
	}
	if _, err := w.f.WriteAt(records, w.off); err != nil {
		return fmt.Errorf("write-ahead log %s: write: %w", w.path, err)
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.off += int64(len(records))
	return nil
}

// reset empties the log: it writes the next epoch into the other slot and syncs it. The caller
// makes sure that bbolt holds every record durably first.
func (w *wal) reset() error {
	if w.off == walDataOffset {
		return nil
	}
	if err := w.writeSlot(w.epoch + 1); err != nil {
		return fmt.Errorf("write-ahead log %s: reset: %w", w.path, err)
	}
	return nil
}

// walKeepBytes is the size to which the log file is cut when the store opens or closes with the
// log empty: its header and walGrowBytes of blocks for the first records.
const walKeepBytes = walDataOffset + walGrowBytes

// shrink cuts the file to walKeepBytes if it is longer. The caller has emptied the log: the
// bytes cut hold records of an earlier epoch, which never count again, so a crash that loses the
// new size loses nothing.
func (w *wal) shrink() error {
	if w.off != walDataOffset || w.alloc <= walKeepBytes {
		return nil
	}
	if err := w.f.Truncate(walKeepBytes); err != nil {
		return fmt.Errorf("write-ahead log %s: shrink: %w", w.path, err)
	}
	w.alloc = walKeepBytes
	return nil
}

// writeSlot writes epoch into its slot (epoch mod 2), syncs it and makes it current.
func (w *wal) writeSlot(epoch uint64) error {
	b := make([]byte, 0, walSlotLen)
	b = append(b, walMagic...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, walTable))
	if _, err := w.f.WriteAt(b, int64(epoch%2)*walSlotBytes); err != nil {
		return err
	}
	if err := w.sync(); err != nil {
		return err
	}
	w.epoch, w.off = epoch, walDataOffset
	return nil
}

// loggedRecords returns how many records the log of the store at path holds (zero if it has
// none), without changing it.
func loggedRecords(path string) (int, error) {
	f, err := os.Open(walPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("write-ahead log: %w", err)
	}
	defer func() { _ = f.Close() }()
	recs, err := (&wal{f: f, path: walPath(path), off: walDataOffset}).read()
	if err != nil {
		return 0, fmt.Errorf("write-ahead log %s: %w", walPath(path), err)
	}
	return len(recs), nil
}

// bytes returns the size of the records in the log.
func (w *wal) bytes() int64 { return w.off - walDataOffset }

// sync flushes the file's data (fdatasync: the records, and the file's size when it grew).
func (w *wal) sync() error {
	if w.noSync {
		return nil
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("write-ahead log %s: sync: %w", w.path, err)
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }
