package wsframe

import (
	"sync"
)

// DefaultBufferBytes is the size of a read buffer: a burst of small messages is read with one
// system call.
const DefaultBufferBytes = 4 << 10

// BufferPool lends read buffers to Readers while they read, so that a connection that waits holds
// none. Create one with NewBufferPool; it is safe for concurrent use.
type BufferPool struct {
	size   int
	bufs   sync.Pool // *[]byte of size bytes
	chunks sync.Pool // *[]byte of msgChunkBytes
}

// NewBufferPool returns a pool of read buffers of size bytes (at least MaxHeaderBytes; zero
// means DefaultBufferBytes).
func NewBufferPool(size int) *BufferPool {
	if size <= 0 {
		size = DefaultBufferBytes
	}
	return &BufferPool{size: max(size, MaxHeaderBytes)}
}

func (p *BufferPool) getBuf() *[]byte {
	if p == nil {
		b := make([]byte, DefaultBufferBytes)
		return &b
	}
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, p.size)
	return &b
}

// Get lends a buffer of the pool's size (to a writer gathering frames, say); give it back with Put.
func (p *BufferPool) Get() *[]byte { return p.getBuf() }

// Put gives back a buffer that Get lent; one of another size is dropped.
func (p *BufferPool) Put(b *[]byte) {
	if p != nil && len(*b) == p.size {
		p.bufs.Put(b)
	}
}

func (p *BufferPool) getChunk() []byte {
	if p != nil {
		if b, ok := p.chunks.Get().(*[]byte); ok {
			return *b
		}
	}
	return make([]byte, msgChunkBytes)
}

func (p *BufferPool) putChunk(b []byte) {
	if p != nil {
		p.chunks.Put(&b)
	}
}
