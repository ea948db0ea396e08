package wsframe

import "syscall"

// mapChunk returns n bytes mapped from the kernel, outside the Go heap: unmapChunk returns them to
// the system at once, where memory the collector frees waits for it to run and then for the
// scavenger.
func mapChunk(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
}

// unmapChunk unmaps a chunk of mapChunk; nothing may use it after.
func unmapChunk(c []byte) { _ = syscall.Munmap(c) }
