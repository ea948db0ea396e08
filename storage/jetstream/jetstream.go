package jetstream

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tandemhq/tandem/storage/backend"
)

// Config names the JetStream resources and sets their replication. The zero value is the
// production layout: prefix "tandem", three replicas, a two-minute duplicate window.
type Config struct {
	// Prefix starts every subject and resource name: the stream <Prefix>_updates on subjects
	// <Prefix>.u.>, the KV bucket <Prefix>_meta, the object store <Prefix>_snapshots. Letters,
	// digits, '-' and '_' only. Zero means "tandem"; tests use their own to share one cluster.
	Prefix string
	// Replicas is the replication factor of the stream, the KV bucket and the object store. Zero
	// means 3, the only setting under which a server's loss loses no acknowledged entry.
	Replicas int
	// Duplicates is the stream's duplicate window: an append of the same bytes to the same log
	// within it is stored once. Zero means two minutes.
	Duplicates time.Duration
	// MaxEntryBytes bounds one appended entry. Zero means the server's max_payload (1 MiB by
	// default), which must then be at least the largest update tandem accepts.
	MaxEntryBytes int32
	// EntryKey, shared by the nodes, signs the entries they append (EntryHeader): with it, an
	// entry counts as a node's only if its header is the entry's signature under the key, so
	// that publish rights on the log's subjects are not enough to pass for a node. Empty means
	// that the header alone marks a node's entry.
	EntryKey []byte
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Backend is the JetStream implementation of backend.Log, backend.Snapshots and backend.Meta.
// Its methods are safe for concurrent use.
type Backend struct {
	js     jetstream.JetStream
	prefix string
	stream jetstream.Stream
	kv     jetstream.KeyValue
	// kvStream is the KV bucket's stream, read through its leader: Meta.Keys lists keys from it
	// when no consumer can be made.
	kvStream jetstream.Stream
	obs      jetstream.ObjectStore
	// objects is the object store's stream, read through its leader: Snapshots.Get reads the
	// chunks from it one request each.
	objects jetstream.Stream
	// consumerMade, when set (tests), is called once a long read has made its consumer, before
	// its first fetch.
	consumerMade func()
	// conn ends an append's publish when the connection drops (Log.Append).
	conn *connWatch
	// entryKey signs and checks the EntryHeader of entries (Config.EntryKey); nil: unsigned.
	entryKey []byte
	// unsigned counts the live deliveries skipped for want of a signature (UnsignedDeliveries).
	unsigned atomic.Uint64
	// macs holds HMACs keyed with entryKey for entrySum, which every append and every read
	// entry makes: a keyed one is reset rather than made again.
	macs sync.Pool
}

// Open creates the resources that cfg names, or checks and updates the existing ones (so that
// every node may call it at start), and returns the backend over them. It returns an error if
// JetStream does not answer before ctx ends; forming a fresh cluster takes a few seconds, and a
// caller should retry with short contexts rather than wait with one long one.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Backend, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "tandem"
	}
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("jetstream: prefix %q: want letters, digits, '-' and '_'", cfg.Prefix)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 3
	}
	if cfg.Duplicates == 0 {
		cfg.Duplicates = 2 * time.Minute
	}
	b := &Backend{js: js, prefix: cfg.Prefix, conn: watchConn(js.Conn())}
	if len(cfg.EntryKey) > 0 {
		b.entryKey = bytes.Clone(cfg.EntryKey)
	}
	sc := jetstream.StreamConfig{
		Name:        cfg.Prefix + "_updates",
		Description: "tandem: every document's accepted updates, one subject per document and epoch",
		Subjects:    []string{cfg.Prefix + ".u.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.Duplicates,
		MaxMsgSize:  cfg.MaxEntryBytes,
		// Reads go to the stream's leader: a direct get may be answered by a lagging replica,
		// which would make a gapless read fall short.
		AllowDirect: false,
		RePublish:   &jetstream.RePublish{Source: cfg.Prefix + ".u.>", Destination: cfg.Prefix + ".r.>"},
	}
	var err error
	if b.stream, err = js.CreateOrUpdateStream(ctx, sc); err != nil {
		return nil, fmt.Errorf("jetstream: stream %s: %w", sc.Name, err)
	}
	bucket := cfg.Prefix + "_meta"
	if _, err := js.KeyValue(ctx, bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: "tandem: document metadata and client-ID bindings",
			History: 1, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		})
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("jetstream: kv %s: %w", bucket, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("jetstream: kv %s: %w", bucket, err)
	}
	if b.kv, b.kvStream, err = leaderReads(ctx, js, "KV_"+bucket, func() (jetstream.KeyValue, error) { return js.KeyValue(ctx, bucket) }); err != nil {
		return nil, err
	}
	objects := cfg.Prefix + "_snapshots"
	if _, err := js.ObjectStore(ctx, objects); errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: objects, Description: "tandem: document snapshots",
			Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		})
		if err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, fmt.Errorf("jetstream: object store %s: %w", objects, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("jetstream: object store %s: %w", objects, err)
	}
	if b.obs, b.objects, err = leaderReads(ctx, js, "OBJ_"+objects, func() (jetstream.ObjectStore, error) { return js.ObjectStore(ctx, objects) }); err != nil {
		return nil, err
	}
	return b, nil
}

// leaderReads turns direct gets off on the stream behind a KV bucket or an object store, which
// nats.go creates with them on, and returns a handle made while they are off (a handle decides
// once, when it is made, whether it reads directly). A direct get may be answered by a replica
// that lags, and a compare-and-set decided on a stale read, or a cold load checked against one,
// would be wrong. A node opening the bucket for the first time at the same moment may turn direct
// gets on again (nats.go's create does), so the stream is checked again after the handle is made.
// It also returns a handle of the stream itself made while direct gets are off, whose message
// gets therefore go to the leader.
func leaderReads[H any](ctx context.Context, js jetstream.JetStream, name string, handle func() (H, error)) (H, jetstream.Stream, error) {
	var zero H
	for range 10 {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return zero, nil, fmt.Errorf("jetstream: stream %s: %w", name, err)
		}
		if cfg := s.CachedInfo().Config; cfg.AllowDirect {
			cfg.AllowDirect = false
			if _, err := js.UpdateStream(ctx, cfg); err != nil {
				return zero, nil, fmt.Errorf("jetstream: stream %s: turn direct gets off: %w", name, err)
			}
		}
		h, err := handle()
		if err != nil {
			return zero, nil, fmt.Errorf("jetstream: %s: %w", name, err)
		}
		stream, err := js.Stream(ctx, name)
		if err != nil {
			return zero, nil, fmt.Errorf("jetstream: stream %s: %w", name, err)
		}
		if !stream.CachedInfo().Config.AllowDirect {
			return h, stream, nil
		}
	}
	return zero, nil, fmt.Errorf("jetstream: stream %s: direct gets keep being turned on", name)
}

// Set returns b as the three stores of the storage contract.
func (b *Backend) Set() backend.Set {
	return backend.Set{Log: (*Log)(b), Snapshots: (*Snapshots)(b), Meta: (*Meta)(b)}
}

// Subject returns the subject of the log (doc, epoch): <prefix>.u.<key>.<epoch>.
func (b *Backend) Subject(doc string, epoch uint64) string {
	return b.prefix + ".u." + backend.Key(doc) + "." + strconv.FormatUint(epoch, 10)
}

// RepublishSubject returns the core NATS subject on which the stream republishes the log (doc,
// epoch) as it stores it: <prefix>.r.<key>.<epoch>.
func (b *Backend) RepublishSubject(doc string, epoch uint64) string {
	return b.prefix + ".r." + backend.Key(doc) + "." + strconv.FormatUint(epoch, 10)
}

// Log is the update log: a subject per document and epoch in one stream. Positions are stream
// sequence numbers, so they grow across documents and are not contiguous within one.
type Log Backend

// Append publishes data to the log's subject and returns its stream sequence once the stream
// has stored it: on a quorum of replicas, synced to disk when the servers run with sync always.
// The message ID is a hash of subject and data (with an entry key, the entry's signature:
// entryID), so a retried append within the duplicate window is stored once and returns the first
// one's sequence. While an earlier append of the same bytes is still being stored (its retry came
// before its quorum did), Append waits for it, until ctx ends. A publish whose connection drops
// before its acknowledgement arrives is made again at once, buffered until the client has
// reconnected: the acknowledgement of a stored message is lost with the connection, and waiting
// for it would hold the append until ctx ends.
func (l *Log) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	b := (*Backend)(l)
	subj := b.Subject(doc, epoch)
	id, mark := b.entryID(subj, data)
	wait := 10 * time.Millisecond
	for {
		pctx, cancel := l.conn.bind(ctx)
		msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{EntryHeader: []string{mark}}}
		ack, err := l.js.PublishMsg(pctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(l.stream.CachedInfo().Config.Name))
		lost := ctx.Err() == nil && errors.Is(context.Cause(pctx), errConnLost)
		cancel()
		if err == nil {
			return ack.Sequence, nil
		}
		if lost {
			// The acknowledgement, if any, went with the connection: publish again on the
			// next one (the client buffers it while reconnecting). The message ID makes it a
			// duplicate if the first was stored, answered with the first's sequence.
			continue
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != errDuplicateInProcess {
			return 0, fmt.Errorf("jetstream: append to %s: %w", subj, err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("jetstream: append to %s: waiting for the same append in process: %w", subj, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// EntryHeader is the header a node's appends carry: an entry without it, or whose header is not
// its signature when the nodes share an entry key (Config.EntryKey), was written by something
// else (backend.Entry.Foreign). Signed, its value is the first 16 bytes, in hexadecimal, of the
// HMAC-SHA256 under the key of the log's name (<key>.<epoch>, the subject without its first two
// tokens), a zero byte and the entry's data; unsigned, it is "1".
const EntryHeader = "Tandem-Entry"

// entryID returns the message ID of an append of data on subject subj, and its EntryHeader
// value. Signed, the ID is the signature, which no one without the key can make: a message
// published ahead of the append with the ID it will have would otherwise be taken for it (a
// duplicate, answered with the first's sequence) and the node's entry stored without its header.
// Unsigned, it is a hash of the subject and the data.
func (b *Backend) entryID(subj string, data []byte) (id, mark string) {
	if b.entryKey != nil {
		sig := hex.EncodeToString(b.entrySum(subj, data))
		return sig, sig
	}
	h := sha256.New()
	h.Write([]byte(subj))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)[:16]), "1"
}

// entrySum returns the signature of an entry with data on subject subj: a log's subject or its
// republishing subject, which sign alike.
func (b *Backend) entrySum(subj string, data []byte) []byte {
	m, _ := b.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, b.entryKey)
	} else {
		m.Reset() // back to the keyed state, without hashing the key again
	}
	defer b.macs.Put(m)
	_, name, _ := strings.Cut(strings.TrimPrefix(subj, b.prefix+"."), ".")
	var buf [sha256.Size]byte
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(buf[:0])[:16]
}

// foreign reports whether the entry with data on subject subj and header h was not appended by a
// node.
func (b *Backend) foreign(subj string, h nats.Header, data []byte) bool {
	v := h.Get(EntryHeader)
	if v == "" {
		return true
	}
	if b.entryKey == nil {
		return false
	}
	var got [16]byte
	if len(v) != 2*len(got) {
		return true
	}
	if _, err := hex.Decode(got[:], []byte(v)); err != nil {
		return true
	}
	return !hmac.Equal(got[:], b.entrySum(subj, data))
}

// errDuplicateInProcess is the server's error code for a message whose ID belongs to a message
// still being stored (JSStreamDuplicateMessageConflict, 409).
const errDuplicateInProcess jetstream.ErrorCode = 10158

// directReads is how many entries Read fetches one request each before it switches to an ordered
// consumer: a repair read of a few entries costs a few round trips, a cold load of a long log one
// consumer and a round trip per batch.
const directReads = 8

// readBatch is the most entries one consumer fetch asks for.
const readBatch = 1024

// fetchWait bounds one consumer fetch of a read.
const fetchWait = 2 * time.Second

// consumerWait bounds the creation of a read's consumer. Creating one is a request to the
// JetStream cluster's metadata leader, not the stream's: when that server has just died, the
// request goes unanswered until its context ends (a read of a long log then failed however long
// it was allowed, TestReadsWithoutMetaLeader), while the stream's leader still answers the
// one-entry requests the read falls back to.
const consumerWait = time.Second

// Read returns the log's entries in [from, to]. The first few come one request each (the next
// message of the subject at or after a sequence, answered by the stream's leader); the rest, if
// any, through an ordered consumer filtered to the subject, up to the subject's last sequence as
// the leader knew it when the consumer started.
func (l *Log) Read(ctx context.Context, doc string, epoch, from, to uint64) ([]backend.Entry, error) {
	subj := (*Backend)(l).Subject(doc, epoch)
	var out []backend.Entry
	seq := max(from, 1)
	for range directReads {
		if to != 0 && seq > to {
			return out, nil
		}
		m, err := l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream: read %s at %d: %w", subj, seq, err)
		}
		if to != 0 && m.Sequence > to {
			return out, nil
		}
		out = append(out, backend.Entry{Seq: m.Sequence, Data: m.Data, Foreign: (*Backend)(l).foreign(m.Subject, m.Header, m.Data)})
		seq = m.Sequence + 1
	}
	rest, err := l.readConsumer(ctx, subj, seq, to)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// readConsumer reads the subject's entries in [from, to] through an ephemeral consumer filtered
// to the subject, which delivers them in stream order in batches. The number to fetch is the
// consumer's pending count when it was made, so no fetch waits for messages that do not exist.
// The consumer's replica may lag the leader, and a delivery may be lost on a reconnect (seen as
// a jump in the consumer sequence): in either case the read goes on from the leader, one entry a
// request, up to the subject's last sequence as the leader reported it first.
func (l *Log) readConsumer(ctx context.Context, subj string, from, to uint64) ([]backend.Entry, error) {
	last, err := l.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: read %s: last sequence: %w", subj, err)
	}
	end := last.Sequence
	if to != 0 {
		end = min(end, to)
	}
	if end < from {
		return nil, nil
	}
	var out []backend.Entry
	next := from // the first sequence not read yet
	if err := l.readBatches(ctx, subj, end, &next, &out); err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("jetstream: read %s from %d: %w", subj, next, err)
	}
	for next <= end {
		m, err := l.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // the rest was purged meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream: read %s at %d: %w", subj, next, err)
		}
		if m.Sequence > end {
			break
		}
		out = append(out, backend.Entry{Seq: m.Sequence, Data: m.Data, Foreign: (*Backend)(l).foreign(m.Subject, m.Header, m.Data)})
		next = m.Sequence + 1
	}
	return out, nil
}

// readBatches reads what it can of [*next, end] through a consumer, appending to out and moving
// *next. An error only means that the caller continues without it.
func (l *Log) readBatches(ctx context.Context, subj string, end uint64, next *uint64, out *[]backend.Entry) error {
	stream := l.stream.CachedInfo().Config.Name
	cctx, cancel := context.WithTimeout(ctx, consumerWait)
	defer cancel()
	cons, err := l.js.CreateConsumer(cctx, stream, jetstream.ConsumerConfig{
		FilterSubject:     subj,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       *next,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second, // in case the deletion below fails
	})
	if err != nil {
		return err
	}
	info := cons.CachedInfo()
	if l.consumerMade != nil {
		l.consumerMade()
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = l.js.DeleteConsumer(dctx, stream, info.Name)
		cancel()
	}()
	pending, cseq := info.NumPending, uint64(0)
	for pending > 0 && *next <= end {
		got, err := l.fetchBatch(ctx, cons, int(min(pending, readBatch)), end, next, out, &cseq)
		if err != nil {
			return err
		}
		if got == 0 {
			return nil
		}
		pending -= min(got, pending)
	}
	return nil
}

// fetchBatch fetches up to n entries through cons, appending those in [*next, end] to out and
// moving *next; *cseq is the consumer sequence of the last delivery, which must grow by one each
// time (a jump is a lost delivery). A fetch waits for as many messages as it asks for, and a
// purge (a compaction) while the read runs removes some, so it is bounded by fetchWait.
func (l *Log) fetchBatch(ctx context.Context, cons jetstream.Consumer, n int, end uint64, next *uint64, out *[]backend.Entry, cseq *uint64) (got uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, err
	}
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return got, err
		}
		if md.Sequence.Consumer != *cseq+1 {
			return got, fmt.Errorf("delivery %d after %d: lost in between", md.Sequence.Consumer, *cseq)
		}
		*cseq = md.Sequence.Consumer
		got++
		if seq := md.Sequence.Stream; seq >= *next && seq <= end {
			*out = append(*out, backend.Entry{Seq: seq, Data: m.Data(), Foreign: (*Backend)(l).foreign(m.Subject(), m.Headers(), m.Data())})
			*next = seq + 1
		} else if seq > end {
			*next = end + 1
		}
	}
	return got, batch.Error()
}

// Purge removes the log's entries below below.
func (l *Log) Purge(ctx context.Context, doc string, epoch, below uint64) error {
	if below <= 1 {
		return nil // nothing lies below; a purge at sequence 0 would remove everything
	}
	subj := (*Backend)(l).Subject(doc, epoch)
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(below)); err != nil {
		return fmt.Errorf("jetstream: purge %s below %d: %w", subj, below, err)
	}
	return nil
}

// Drop removes every entry of the log.
func (l *Log) Drop(ctx context.Context, doc string, epoch uint64) error {
	subj := (*Backend)(l).Subject(doc, epoch)
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return fmt.Errorf("jetstream: drop %s: %w", subj, err)
	}
	return nil
}

// Snapshots keeps snapshot blobs in the object store, chunked by JetStream.
type Snapshots Backend

// Put stores data under name.
func (s *Snapshots) Put(ctx context.Context, name string, data []byte) error {
	if _, err := s.obs.PutBytes(ctx, name, data); err != nil {
		return fmt.Errorf("jetstream: put snapshot %s: %w", name, err)
	}
	return nil
}

// Get returns the blob stored under name, or backend.ErrNotFound. It reads the object's
// description and then its chunks from the leader of the object store's stream, one request a
// chunk, and checks their number, size and SHA-256 digest against the description.
//
// It does not use the object store's own Get: that reads the chunks through an ordered consumer,
// which the server places on any replica of the stream, and a replica that has not yet stored
// every chunk of a fresh Put (it was down, or is catching up) delivers what it has and reports
// nothing pending, so the read ends early and fails its digest check ("received a corrupt
// object") although the object is whole on a quorum. TestSnapshotGetWhileReplicaCatchesUp shows
// it.
func (s *Snapshots) Get(ctx context.Context, name string) ([]byte, error) {
	info, err := s.obs.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("jetstream: snapshot %s: %w", name, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: get snapshot %s: %w", name, err)
	}
	if info.Size > MaxSnapshotBytes {
		return nil, fmt.Errorf("jetstream: get snapshot %s: %d bytes, more than %d", name, info.Size, MaxSnapshotBytes)
	}
	// The chunks' subject: ADR-20, the object store's layout ($O.<bucket>.C.<object NUID>).
	subj := "$O." + info.Bucket + ".C." + info.NUID
	data := make([]byte, 0, info.Size)
	h := sha256.New()
	seq := uint64(1)
	for range info.Chunks {
		m, err := s.objects.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			// Deleted (and its chunks purged) while it was read.
			return nil, fmt.Errorf("jetstream: snapshot %s: chunks gone while reading: %w", name, backend.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("jetstream: get snapshot %s: chunk at %d: %w", name, seq, err)
		}
		data = append(data, m.Data...)
		h.Write(m.Data)
		seq = m.Sequence + 1
	}
	want, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("jetstream: get snapshot %s: %w", name, err)
	}
	if uint64(len(data)) != info.Size || !bytes.Equal(h.Sum(nil), want) {
		return nil, fmt.Errorf("jetstream: get snapshot %s: %d bytes in %d chunks, digest mismatch: %w",
			name, len(data), info.Chunks, jetstream.ErrDigestMismatch)
	}
	return data, nil
}

// MaxSnapshotBytes bounds the size of a snapshot Get accepts from an object's description, so that
// a corrupt description cannot make it allocate without bound.
const MaxSnapshotBytes = 1 << 32

// Delete removes the blob stored under name.
func (s *Snapshots) Delete(ctx context.Context, name string) error {
	if err := s.obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("jetstream: delete snapshot %s: %w", name, err)
	}
	return nil
}

// Meta keeps metadata in the KV bucket; revisions are the bucket stream's sequence numbers.
type Meta Backend

// Get returns the key's value and revision, read from the bucket's leader.
func (m *Meta) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := m.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("jetstream: key %s: %w", key, backend.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("jetstream: get %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

// Create sets the key if it has no value.
func (m *Meta) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := m.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("jetstream: create %s: %w", key, backend.ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: create %s: %w", key, err)
	}
	return rev, nil
}

// Update sets the key if its revision is still rev.
func (m *Meta) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	next, err := m.kv.Update(ctx, key, value, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("jetstream: update %s at revision %d: %w", key, rev, backend.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream: update %s: %w", key, err)
	}
	return next, nil
}

// Delete removes the key (a delete marker, which a later Create replaces).
func (m *Meta) Delete(ctx context.Context, key string) error {
	if err := m.kv.Delete(ctx, key); err != nil {
		return fmt.Errorf("jetstream: delete %s: %w", key, err)
	}
	return nil
}

// Keys returns the keys under prefix, which must end with a dot. It lists them through a
// watcher, a consumer of the bucket's stream. A consumer not made within consumerWait waits for
// the JetStream cluster's metadata leader (being elected), and the keys are then taken from the
// stream's subjects as its leader reports them, each checked to hold a value. While JetStream
// answers that it is temporarily unavailable (right after a server of the cluster stopped), the
// listing is tried again until ctx ends.
func (m *Meta) Keys(ctx context.Context, prefix string) ([]string, error) {
	wait := 50 * time.Millisecond
	for {
		keys, made, err := m.watchKeys(ctx, prefix)
		if err != nil && !made && ctx.Err() == nil {
			keys, err = m.keysFromStream(ctx, prefix)
		}
		if err == nil {
			return keys, nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != errTemporarilyUnavailable {
			return nil, fmt.Errorf("jetstream: keys %s: %w", prefix, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream: keys %s: %w", prefix, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// errTemporarilyUnavailable is the server's error code for "JetStream system temporarily
// unavailable" (503), which it answers while its cluster settles after a server stopped.
const errTemporarilyUnavailable jetstream.ErrorCode = 10008

// errNoWatcher is watchKeys' error when its watcher's consumer was not made within
// consumerWait.
var errNoWatcher = errors.New("jetstream: the watcher's consumer was not made in time")

// watchKeys lists the keys under prefix through a watcher. made reports whether the watcher's
// consumer was made (an error after that is not one of a missing metadata leader).
func (m *Meta) watchKeys(ctx context.Context, prefix string) (keys []string, made bool, err error) {
	// The watcher ends with its context (nats.go unsubscribes then), so the context lives as
	// long as the listing, and the wait for its consumer is bounded here instead.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type watch struct {
		w   jetstream.KeyWatcher
		err error
	}
	ready := make(chan watch, 1)
	go func() {
		w, err := m.kv.WatchFiltered(wctx, []string{prefix + ">"}, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
		ready <- watch{w, err}
	}()
	timer := time.NewTimer(consumerWait)
	defer timer.Stop()
	var w jetstream.KeyWatcher
	select {
	case r := <-ready:
		if r.err != nil {
			return nil, false, r.err
		}
		w = r.w
	case <-timer.C:
		return nil, false, errNoWatcher // cancel ends the creation, or the watcher if made
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, true, errors.New("jetstream: the watcher stopped before the end of the keys")
			}
			if e == nil { // the end of the keys present when the watcher started
				return keys, true, nil
			}
			keys = append(keys, e.Key())
		case <-ctx.Done():
			return nil, true, ctx.Err()
		}
	}
}

// keysFromStream lists the keys under prefix from the subjects of the bucket's stream (its
// leader answers), keeping those whose latest entry is a value, not a deletion.
func (m *Meta) keysFromStream(ctx context.Context, prefix string) ([]string, error) {
	subjPrefix := "$KV." + m.kv.Bucket() + "."
	info, err := m.kvStream.Info(ctx, jetstream.WithSubjectFilter(subjPrefix+prefix+">"))
	if err != nil {
		return nil, err
	}
	var keys []string
	for subj := range info.State.Subjects {
		key, ok := strings.CutPrefix(subj, subjPrefix)
		if !ok {
			continue
		}
		if _, err := m.kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Prefix returns the prefix of the backend's subjects and resources (Config.Prefix), under which
// a node may name core NATS subjects of its own (heartbeats, notices) beside the stream's.
func (b *Backend) Prefix() string { return b.prefix }

// Ping asks JetStream's meta leader for the account's state and the update stream's leader for
// the stream's. It fails while either has no leader (no quorum of the servers) or JetStream does
// not answer before ctx ends: then no append can be acknowledged either.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: ping: %w", err)
	}
	if _, err := b.stream.Info(ctx); err != nil {
		return fmt.Errorf("jetstream: ping %s: %w", b.stream.CachedInfo().Config.Name, err)
	}
	return nil
}
