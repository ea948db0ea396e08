package room

import "testing"

func TestDurability(t *testing.T) {
	type step struct {
		op   string // issue, ok, fail, cover
		i    uint64
		want uint64 // Durable() after the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"ok", 1, 1}, {"ok", 2, 2}}},
		{"failure holds the prefix", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"issue", 0, 0}, {"ok", 1, 1}, {"fail", 2, 1}, {"ok", 3, 1}}},
		{"snapshot heals a failure", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"fail", 1, 0}, {"cover", 2, 2}, {"ok", 2, 2}}},
		{"snapshot covers in-flight appends", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"cover", 2, 2}, {"ok", 1, 2}}},
		{"two failures, one covered", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"issue", 0, 0}, {"issue", 0, 0}, {"fail", 1, 0}, {"ok", 2, 0}, {"fail", 3, 0}, {"ok", 4, 0}, {"cover", 2, 2}, {"cover", 4, 4}}},
		{"late failure report sorted", []step{{"issue", 0, 0}, {"issue", 0, 0}, {"issue", 0, 0}, {"fail", 3, 0}, {"fail", 1, 0}, {"ok", 2, 0}, {"cover", 1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Durability
			for k, s := range tc.steps {
				switch s.op {
				case "issue":
					d.Issue()
				case "ok":
					d.Report(s.i, true)
				case "fail":
					d.Report(s.i, false)
				case "cover":
					d.Cover(s.i)
				}
				if got := d.Durable(); got != s.want {
					t.Fatalf("after step %d (%s %d): Durable() = %d; want %d", k, s.op, s.i, got, s.want)
				}
			}
		})
	}
}
