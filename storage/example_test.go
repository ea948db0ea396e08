package storage_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tandemhq/tandem/storage"
)

func ExampleStore() {
	dir, err := os.MkdirTemp("", "tandem-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := storage.Open(filepath.Join(dir, "tandem.db"), storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A document actor hands each update to Append and acknowledges it when done reports it durable.
	acked := make(chan uint64, 1)
	s.Append("notes", []byte("update 1"), func(seq uint64, err error) {
		if err != nil {
			log.Print(err)
		}
		acked <- seq // done must not block: the channel has room
	})
	fmt.Println("durable at seq", <-acked)

	// AppendSync is the same for tools and tests.
	seq, err := s.AppendSync(context.Background(), "notes", []byte("update 2"))
	if err != nil {
		log.Fatal(err)
	}

	// Past a threshold, the actor folds the log into a snapshot.
	if err := s.Compact("notes", []byte("state after 1 and 2"), seq); err != nil {
		log.Fatal(err)
	}
	if _, err := s.AppendSync(context.Background(), "notes", []byte("update 3")); err != nil {
		log.Fatal(err)
	}

	// Loading replays the snapshot, then the log entries after it.
	st, ok, err := s.Load("notes")
	if err != nil || !ok {
		log.Fatal(ok, err)
	}
	fmt.Printf("snapshot %q covers up to seq %d\n", st.Snapshot, st.SnapshotSeq)
	for _, e := range st.Log {
		fmt.Printf("then seq %d: %q\n", e.Seq, e.Data)
	}
	// Output:
	// durable at seq 1
	// snapshot "state after 1 and 2" covers up to seq 2
	// then seq 3: "update 3"
}
