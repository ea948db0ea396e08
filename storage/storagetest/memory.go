package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tandemhq/tandem/storage/backend"
)

// Memory is an in-memory backend: the reference against which the conformance suite is written,
// and a fast stand-in for tests of code above the backend. It is not durable.
type Memory struct {
	mu    sync.Mutex
	seq   uint64 // positions are shared by all logs, as in a JetStream stream
	logs  map[string][]backend.Entry
	blobs map[string][]byte
	meta  map[string]memValue
	rev   uint64
}

type memValue struct {
	v   []byte
	rev uint64
}

// NewMemory returns an empty in-memory backend.
func NewMemory() *Memory {
	return &Memory{logs: map[string][]backend.Entry{}, blobs: map[string][]byte{}, meta: map[string]memValue{}}
}

// Set returns m's three stores.
func (m *Memory) Set() backend.Set {
	return backend.Set{Log: memLog{m}, Snapshots: memSnaps{m}, Meta: memMeta{m}}
}

func logName(doc string, epoch uint64) string { return fmt.Sprintf("%s.%d", backend.Key(doc), epoch) }

type memLog struct{ m *Memory }

func (l memLog) Append(ctx context.Context, doc string, epoch uint64, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.m.seq++
	n := logName(doc, epoch)
	l.m.logs[n] = append(l.m.logs[n], backend.Entry{Seq: l.m.seq, Data: clone(data)})
	return l.m.seq, nil
}

func (l memLog) Read(ctx context.Context, doc string, epoch, from, to uint64) ([]backend.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	var out []backend.Entry
	for _, e := range l.m.logs[logName(doc, epoch)] {
		if e.Seq >= from && (to == 0 || e.Seq <= to) {
			out = append(out, backend.Entry{Seq: e.Seq, Data: clone(e.Data)})
		}
	}
	return out, nil
}

func (l memLog) Purge(ctx context.Context, doc string, epoch, below uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	n := logName(doc, epoch)
	var kept []backend.Entry
	for _, e := range l.m.logs[n] {
		if e.Seq >= below {
			kept = append(kept, e)
		}
	}
	l.m.logs[n] = kept
	return nil
}

func (l memLog) Drop(ctx context.Context, doc string, epoch uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	delete(l.m.logs, logName(doc, epoch))
	return nil
}

type memSnaps struct{ m *Memory }

func (s memSnaps) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.blobs[name] = clone(data)
	return nil
}

func (s memSnaps) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	b, ok := s.m.blobs[name]
	if !ok {
		return nil, fmt.Errorf("storagetest: snapshot %s: %w", name, backend.ErrNotFound)
	}
	return clone(b), nil
}

func (s memSnaps) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	delete(s.m.blobs, name)
	return nil
}

type memMeta struct{ m *Memory }

func (k memMeta) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	k.m.mu.Lock()
	defer k.m.mu.Unlock()
	v, ok := k.m.meta[key]
	if !ok {
		return nil, 0, fmt.Errorf("storagetest: key %s: %w", key, backend.ErrNotFound)
	}
	return clone(v.v), v.rev, nil
}

func (k memMeta) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k.m.mu.Lock()
	defer k.m.mu.Unlock()
	if _, ok := k.m.meta[key]; ok {
		return 0, fmt.Errorf("storagetest: create %s: %w", key, backend.ErrExists)
	}
	k.m.rev++
	k.m.meta[key] = memValue{clone(value), k.m.rev}
	return k.m.rev, nil
}

func (k memMeta) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k.m.mu.Lock()
	defer k.m.mu.Unlock()
	if v, ok := k.m.meta[key]; !ok || v.rev != rev {
		return 0, fmt.Errorf("storagetest: update %s at revision %d: %w", key, rev, backend.ErrConflict)
	}
	k.m.rev++
	k.m.meta[key] = memValue{clone(value), k.m.rev}
	return k.m.rev, nil
}

func (k memMeta) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.m.mu.Lock()
	defer k.m.mu.Unlock()
	delete(k.m.meta, key)
	return nil
}

func (k memMeta) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.m.mu.Lock()
	defer k.m.mu.Unlock()
	var keys []string
	for key := range k.m.meta {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Blobs returns the names of the stored snapshot blobs, sorted: a test's check that nothing
// unreferenced is left behind.
func (m *Memory) Blobs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.blobs))
	for n := range m.blobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
