package room

import (
	"fmt"
	"strings"
	"testing"
)

// tm is a member in tests: a name, and whether it is closing.
type tm struct {
	name    string
	closing bool
}

func (m *tm) Closing() bool { return m.closing }

type testLedger = Ledger[*tm, string, string]

// run plays a scenario on a fresh ledger (at most maxHeld frames held per member) and returns
// what each step printed, one line per step that printed something. Commands:
//
//	issue                 an append handed to storage (prints its index)
//	ok I / fail I         storage reports append I durable / failed
//	cover I               a snapshot covering index I is durable
//	out M F NEED          frame F for member M, needing index NEED (prints the outcome)
//	pend M SEQ I          member M's update SEQ, durable at index I
//	write W I / read W I  an HTTP write or read W, answered once I is durable (prints "now" if so)
//	forget M              member M is gone
//	closing M             member M is closing
//	release               Release, then print Ready and Advance
func run(t *testing.T, maxHeld int, script string) string {
	t.Helper()
	l := NewLedger[*tm, string, string](maxHeld, func(seq uint64) string { return fmt.Sprintf("ack%d", seq) })
	members := map[string]*tm{}
	mem := func(name string) *tm {
		if members[name] == nil {
			members[name] = &tm{name: name}
		}
		return members[name]
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		num := func(i int) uint64 {
			var n uint64
			if _, err := fmt.Sscan(f[i], &n); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return n
		}
		switch f[0] {
		case "issue":
			out = append(out, fmt.Sprintf("index %d", l.Issue()))
		case "ok", "fail":
			l.Report(num(1), f[0] == "ok")
		case "cover":
			l.Cover(num(1))
		case "out":
			o := l.Out(mem(f[1]), f[2], num(3))
			out = append(out, fmt.Sprintf("%s %s: %s", f[1], f[2], [...]string{"now", "held", "dropped", "over"}[o]))
		case "pend":
			l.Pend(mem(f[1]), num(2), num(3))
		case "write", "read":
			var now bool
			if f[0] == "write" {
				now = l.WaitWrite(num(2), f[1])
			} else {
				now = l.WaitRead(num(2), f[1])
			}
			if now {
				out = append(out, f[1]+": now")
			}
		case "forget":
			l.Forget(mem(f[1]))
		case "closing":
			mem(f[1]).closing = true
		case "release":
			l.Release()
			out = append(out, effects(l))
			l.Advance()
		default:
			t.Fatalf("unknown command %q", line)
		}
	}
	return strings.Join(out, "\n")
}

// effects prints a ledger's Ready list, sorted per member (members are released in map order;
// each member's own order is what matters).
func effects(l *testLedger) string {
	perMember := map[string][]string{}
	var names, answers, parts0 []string
	for _, e := range l.Ready() {
		switch e.Kind {
		case Send, Overflow:
			if perMember[e.Member.name] == nil {
				names = append(names, e.Member.name)
			}
			what := e.Frame
			if e.Kind == Overflow {
				what = "OVERFLOW"
			}
			perMember[e.Member.name] = append(perMember[e.Member.name], what)
		case AnswerWrite:
			answers = append(answers, "write "+e.Waiter)
		case AnswerRead:
			answers = append(answers, "read "+e.Waiter)
		case Changed:
			parts0 = append(parts0, "changed")
		}
	}
	sortStrings(names)
	parts := parts0
	for _, n := range names {
		parts = append(parts, n+"<-"+strings.Join(perMember[n], ","))
	}
	parts = append(parts, answers...)
	if len(parts) == 0 {
		return "release: nothing"
	}
	return "release: " + strings.Join(parts, " ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestLedgerScenarios: the orders the actor relies on, events in and effects out.
func TestLedgerScenarios(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{
			name: "ack only after durable",
			script: `
issue
pend a 1 1
release
ok 1
release`,
			want: `
index 1
release: nothing
release: changed a<-ack1`,
		},
		{
			name: "acks are cumulative: one ack for every update durable at once",
			script: `
issue
pend a 1 1
issue
pend a 2 2
issue
pend a 3 3
ok 1
ok 2
release
ok 3
release`,
			want: `
index 1
index 2
index 3
release: changed a<-ack2
release: changed a<-ack3`,
		},
		{
			name: "a failed append holds the acks after it until a snapshot covers it",
			script: `
issue
pend a 1 1
issue
pend a 2 2
fail 1
ok 2
release
cover 2
release`,
			want: `
index 1
index 2
release: nothing
release: changed a<-ack2`,
		},
		{
			name: "relay after durable: the other subject's frame waits, the same subject's goes now",
			script: `
issue
out same u1 0
out other u1 1
release
ok 1
release`,
			want: `
index 1
same u1: now
other u1: held
release: nothing
release: changed other<-u1`,
		},
		{
			name: "a frame that needs nothing waits behind the held ones, and so does an ack",
			script: `
issue
out b u1 1
out b aw 0
pend b 1 0
release
ok 1
release`,
			want: `
index 1
b u1: held
b aw: held
release: nothing
release: changed b<-u1,aw,ack1`,
		},
		{
			name: "a joiner's sync answer waits for what it shows, and later frames keep behind it",
			script: `
issue
issue
out j sync 2
out j u3 0
ok 1
release
ok 2
release`,
			want: `
index 1
index 2
j sync: held
j u3: held
release: changed
release: changed j<-sync,u3`,
		},
		{
			name: "too many held frames: overflow, and the member starts afresh",
			script: `
issue
out b u1 1
out b u2 1
out b u3 1
out b u4 1
ok 1
release`,
			want: `
index 1
b u1: held
b u2: held
b u3: held
b u4: over
release: changed`,
		},
		{
			name: "a closing member's frames are dropped",
			script: `
issue
out b u1 1
closing b
out b u2 1
ok 1
release`,
			want: `
index 1
b u1: held
b u2: dropped
release: changed`,
		},
		{
			name: "a member gone before durability gets nothing",
			script: `
issue
pend a 1 1
out b u1 1
forget a
forget b
ok 1
release`,
			want: `
index 1
b u1: held
release: changed`,
		},
		{
			name: "HTTP writes and reads are answered once durable, in order",
			script: `
write w0 0
issue
write w1 1
read r1 1
issue
write w2 2
ok 1
release
ok 2
release`,
			want: `
w0: now
index 1
index 2
release: changed write w1 read r1
release: changed write w2`,
		},
		{
			name: "a snapshot covers appends still in flight",
			script: `
issue
issue
pend a 1 1
pend a 2 2
cover 2
release
ok 1
ok 2
release`,
			want: `
index 1
index 2
release: changed a<-ack2
release: nothing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := run(t, 3, tt.script), strings.TrimSpace(tt.want); got != want {
				t.Fatalf("scenario:\n%s\ngot:\n%s\nwant:\n%s", strings.TrimSpace(tt.script), got, want)
			}
		})
	}
}

// TestLedgerAllocs: a steady stream of updates acknowledged after durability costs the ledger at
// most one allocation per update, the member's list of pending acks, which a member with nothing
// pending does not keep (so that an idle member costs nothing).
func TestLedgerAllocs(t *testing.T) {
	a, b := &tm{name: "a"}, &tm{name: "b"}
	l := NewLedger[*tm, string, string](8, func(uint64) string { return "ack" })
	round := func() {
		i := l.Issue()
		l.Out(b, "u", 0)
		l.Pend(a, i, i)
		l.Release()
		l.Report(i, true)
		l.Release()
		l.Advance()
	}
	round()
	if n := testing.AllocsPerRun(100, round); n > 1 {
		t.Fatalf("allocations per round = %v; want at most 1", n)
	}
}

func TestLedgerTakeWaiters(t *testing.T) {
	l := NewLedger[*tm, string, string](8, func(uint64) string { return "ack" })
	l.Issue()
	l.WaitWrite(1, "w")
	l.WaitRead(1, "r")
	writes, reads := l.TakeWaiters()
	if fmt.Sprint(writes, reads) != "[w] [r]" {
		t.Fatalf("TakeWaiters() = %v, %v; want [w], [r]", writes, reads)
	}
	if l.Writes()+l.Reads() != 0 {
		t.Fatalf("after TakeWaiters: %d writes, %d reads wait; want none", l.Writes(), l.Reads())
	}
}
