package crdt

import "fmt"

// DebugStats describes the internal shape of d, for tests.
func DebugStats(d *Doc) string {
	runs, deleted, leaves := 0, 0, 0
	for _, t := range d.texts {
		for l := t.firstLeaf; l != nil; l = l.next {
			leaves++
			for _, it := range l.items {
				runs++
				if it.deleted {
					deleted++
				}
			}
		}
	}
	return fmt.Sprintf("runs %d (deleted %d) leaves %d", runs, deleted, leaves)
}
