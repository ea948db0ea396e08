package storagetest_test

import (
	"testing"

	"github.com/tandemhq/tandem/storage/backend"
	"github.com/tandemhq/tandem/storage/storagetest"
)

func TestMemoryConformance(t *testing.T) {
	m := storagetest.NewMemory()
	storagetest.Run(t, func(*testing.T) backend.Set { return m.Set() }, 0)
}
