package room

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tp is a peer in core tests: a name, a subject and a client ID.
type tp struct {
	name    string
	subject string
	cid     uint64
	seat    Seat
	closing bool
}

func (p *tp) Closing() bool    { return p.closing }
func (p *tp) Seat() *Seat      { return &p.seat }
func (p *tp) ClientID() uint64 { return p.cid }
func (p *tp) Subject() string  { return p.subject }

type testCore = Core[*tp, string, string]

var testCoreConfig = CoreConfig{
	MaxHeld:           3,
	MaxMembers:        3,
	MaxDocBytes:       3,
	IdleAfter:         10 * time.Second,
	AwarenessInterval: 50 * time.Millisecond,
	Save: SaveConfig{
		CompactEntries: 4,
		CompactBytes:   1 << 20,
		Retries:        1,
		Backoff:        time.Second,
		MaxBackoff:     4 * time.Second,
	},
	Load: LoadConfig{
		Backoff:    100 * time.Millisecond,
		MaxBackoff: 400 * time.Millisecond,
		For:        time.Second,
		Grace:      2 * time.Second,
	},
}

func newTestCore() *testCore {
	return NewCore[*tp, string, string](testCoreConfig, Encoders[string]{
		Ack:       func(seq uint64) string { return fmt.Sprintf("ack%d", seq) },
		Awareness: func(es []PresenceEntry) string { return "aw" + presenceString(es) },
	})
}

var (
	refusalNames = [...]string{"open", "load-failed", "going-away", "deleted", "full", "not-found", "unavailable", "storage-failed", "custom"}
	timerNames   = [...]string{"idle", "awareness", "save", "flush", "load"}
	outcomeNames = [...]string{"", "saved", "saved-again", "retry", "abandon-keep", "abandon-fatal"}
)

// playCore plays a scenario on a fresh core and returns, for each command that listed effects or
// printed something, a line "command: what". The clock starts at 0 and moves only with tick.
// Commands:
//
//	load [hold] [exists] [failed] [cluster] [took=DUR]  the load's report (hold: client
//	                                bindings are on; cluster: a node of several, following the
//	                                log from 0; took: how long the load took)
//	join M SUBJECT CID              AdmitJoin, then Joined with the frame "sync" if admitted
//	waitjoin / joinsdone N          a join waits for a binding's write / N such joins are over
//	leave M                         M is gone
//	update M [same]                 M's update applied (same: it changed nothing); frame "M.SEQ"
//	refuse M                        M's update was refused
//	broadcast M F                   M's broadcast F
//	aware M CLOCK STATE             M's awareness state ("-" removes it)
//	write W [own] / read W          an HTTP write (own: the server's edit) or read W
//	fits N                          whether an update of N bytes keeps the document in bounds
//	remote F                        an entry of the log from another node, frame F
//	followed SEQ / gone             the follower's cursor moved to SEQ / deleted on another node
//	remotepresence C... / S...      the other nodes' changes C and current states S (CID:STATE,
//	                                "-" for a removal)
//	append I [fail]                 storage reports append I (at log sequence I)
//	saved [fail]                    storage reports the save in flight
//	release                         Release
//	fire TIMER                      the timer fired (idle, awareness, save, flush, load)
//	tick DUR                        the clock moves on
//	batch N [holding]               EndBatch after N messages
//	delete / removed / stop         a DELETE request / storage deleted it / shutdown
//	metawrite / metawritten         another write to storage in flight / reported
//	settle                          Settle
func playCore(t *testing.T, script string) string {
	t.Helper()
	c := newTestCore()
	peers := map[string]*tp{}
	now := time.Unix(0, 0)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		line = strings.TrimSpace(line)
		f := strings.Fields(line)
		has := func(word string) bool { return slices.Contains(f[1:], word) }
		num := func(i int) uint64 {
			var n uint64
			if _, err := fmt.Sscan(f[i], &n); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return n
		}
		peer := func(name string) *tp {
			if peers[name] == nil {
				t.Fatalf("%q: no peer %s", line, name)
			}
			return peers[name]
		}
		var said []string
		switch f[0] {
		case "load":
			l := Loaded{HoldFromOthers: has("hold"), Exists: has("exists"), Failed: has("failed"), Cluster: has("cluster")}
			for _, w := range f[1:] {
				if d, ok := strings.CutPrefix(w, "took="); ok {
					var err error
					if l.Took, err = time.ParseDuration(d); err != nil {
						t.Fatalf("%q: %v", line, err)
					}
				}
			}
			c.Load(l)
		case "join":
			p := &tp{name: f[1], subject: f[2], cid: num(3)}
			if r := c.AdmitJoin(); r != Open {
				said = append(said, "refused "+refusalNames[r])
				break
			}
			peers[p.name] = p
			c.Joined(p, p.cid, "sync")
		case "waitjoin":
			c.JoinWaits()
		case "joinsdone":
			c.JoinsDone(int(num(1)))
		case "leave":
			c.Leave(peer(f[1]))
		case "update":
			p := peer(f[1])
			seq, ok := c.Receive(p)
			if !ok {
				said = append(said, "dropped")
				break
			}
			c.Apply(Applied[*tp, string]{From: p, Seq: seq, Changed: !has("same"), Data: []byte("d"), Frame: fmt.Sprintf("%s.%d", p.name, seq)})
		case "refuse":
			c.Refuse(peer(f[1]), fmt.Errorf("refused"))
		case "broadcast":
			c.Broadcast(peer(f[1]), f[2])
		case "aware":
			state := []byte(f[3])
			if f[3] == "-" {
				state = nil
			}
			c.Awareness(peer(f[1]), num(2), state)
		case "write":
			if r := c.Request(); r != Open {
				said = append(said, "refused "+refusalNames[r])
				break
			}
			i := c.Apply(Applied[*tp, string]{Changed: true, Data: []byte("d"), Frame: f[1], Own: has("own")})
			c.WaitWrite(i, f[1])
		case "read":
			if r := c.RequestRead(); r != Open {
				said = append(said, "refused "+refusalNames[r])
				break
			}
			c.Read(f[1])
		case "fits":
			said = append(said, fmt.Sprint(c.Fits(int64(num(1)))))
		case "remote":
			c.Apply(Applied[*tp, string]{Changed: true, Frame: f[1], Remote: true})
		case "followed":
			c.Followed(num(1))
		case "gone":
			if !c.Gone() {
				said = append(said, "own deletion")
			}
		case "remotepresence":
			changes, current, _ := strings.Cut(strings.Join(f[1:], " "), "/")
			c.RemotePresence(presenceArgs(t, changes), presenceArgs(t, current))
		case "append":
			c.AppendReported(num(1), num(1), 1, !has("fail"))
		case "saved":
			o, backoff := c.SaveEnded(c.Saving(), !has("fail"))
			said = append(said, outcomeNames[o])
			if backoff > 0 {
				said = append(said, "in "+backoff.String())
			}
		case "release":
			c.Release()
		case "fire":
			c.Fire(Timer(slices.Index(timerNames[:], f[1])), now)
		case "tick":
			d, err := time.ParseDuration(f[1])
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			now = now.Add(d)
		case "batch":
			c.EndBatch(now, int(num(1)), has("holding"))
		case "delete":
			if r := c.Delete(); r != Open {
				said = append(said, "refused "+refusalNames[r])
			}
		case "removed":
			c.Removed()
		case "stop":
			c.Stop()
		case "metawrite":
			c.MetaWrite()
		case "metawritten":
			c.MetaWritten(true)
		case "settle":
			c.Settle()
		default:
			t.Fatalf("unknown command %q", line)
		}
		said = append(said, coreEffects(c)...)
		c.Advance()
		if len(said) > 0 {
			out = append(out, line+": "+strings.Join(said, ", "))
		}
	}
	return strings.Join(out, "\n")
}

// coreEffects prints a core's Ready list. A run of sends to several members, which a Release
// lists in map order, is sorted by member (each member's own order kept).
func coreEffects(c *testCore) []string {
	ready := slices.Clone(c.Ready())
	for i := 0; i < len(ready); {
		j := i
		for j < len(ready) && (ready[j].Kind == Send || ready[j].Kind == Overflow) {
			j++
		}
		slices.SortStableFunc(ready[i:j], func(a, b Effect[*tp, string, string]) int {
			return strings.Compare(a.Member.name, b.Member.name)
		})
		i = max(j, i+1)
	}
	var s []string
	for _, e := range ready {
		switch e.Kind {
		case Send:
			s = append(s, e.Member.name+"<-"+e.Frame)
		case SendOthers:
			for _, m := range c.MemberList() {
				if m != e.Member {
					s = append(s, m.name+"<-"+e.Frame)
				}
			}
		case Overflow:
			s = append(s, "overflow "+e.Member.name)
		case AnswerWrite:
			s = append(s, "answer write "+e.Waiter)
		case AnswerRead:
			s = append(s, "answer read "+e.Waiter)
		case Changed:
			s = append(s, "changed")
		case Close:
			s = append(s, "close "+e.Member.name+" "+refusalNames[e.Refusal])
		case Reply:
			s = append(s, "reply "+e.Waiter+" "+refusalNames[e.Refusal])
		case Append:
			s = append(s, fmt.Sprintf("append %d", e.Index))
		case Save:
			info := c.Saving()
			w := fmt.Sprintf("save cover=%d upto=%d", info.Cover, info.Upto)
			if e.Compact {
				w += " compact"
			}
			s = append(s, w)
		case Remove:
			s = append(s, "remove")
		case Arm:
			s = append(s, "arm "+timerNames[e.Timer]+" "+e.After.String())
		case Disarm:
			s = append(s, "disarm "+timerNames[e.Timer])
		case Flush:
			s = append(s, "flush")
		case AwarenessOut:
			s = append(s, "awareness out")
		case Announce:
			s = append(s, "announce "+presenceString(e.Presence))
		case LoadAgain:
			s = append(s, "load again")
		case End:
			s = append(s, "end "+refusalNames[e.Refusal])
		}
	}
	return s
}

// presenceArgs reads presence entries written CID:STATE ("-": a removal), at clock 1.
func presenceArgs(t *testing.T, s string) []PresenceEntry {
	t.Helper()
	var es []PresenceEntry
	for _, w := range strings.Fields(s) {
		var e PresenceEntry
		id, state, ok := strings.Cut(w, ":")
		if _, err := fmt.Sscan(id, &e.ClientID); err != nil || !ok {
			t.Fatalf("presence entry %q: want CID:STATE", w)
		}
		e.Clock = 1
		if state != "-" {
			e.State = []byte(state)
		}
		es = append(es, e)
	}
	return es
}

// presenceString prints presence entries as the test's awareness encoder does.
func presenceString(es []PresenceEntry) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", e.ClientID, e.State)
	}
	b.WriteByte(']')
	return b.String()
}

var update = flag.Bool("update", false, "rewrite the expected output of testdata/core/*.txt")

// TestCore plays the document's decisions as scenarios: events in, effects out. Each file in
// testdata/core holds a title (a line starting with #), the commands (playCore), a line
// "----" and what they are expected to print; -update rewrites the expected part.
func TestCore(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "core", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata/core: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			head, want, ok := strings.Cut(string(b), "\n----\n")
			if !ok {
				t.Fatalf("%s: no ---- line", file)
			}
			var title, script []string
			for _, l := range strings.Split(head, "\n") {
				if strings.HasPrefix(l, "#") {
					title = append(title, l)
				} else {
					script = append(script, l)
				}
			}
			got := playCore(t, strings.Join(script, "\n"))
			if *update {
				out := strings.Join(title, "\n") + "\n" + strings.TrimSpace(strings.Join(script, "\n")) + "\n----\n" + got + "\n"
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := trimLines(want); got != want {
				t.Fatalf("%s\nscenario:\n%s\ngot:\n%s\nwant:\n%s", strings.Join(title, " "), strings.TrimSpace(strings.Join(script, "\n")), got, want)
			}
		})
	}
}

// trimLines trims the space around each line of s, and around s.
func trimLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// TestCoreAllocs: an update round through the core (applied, relayed to a member, appended,
// reported durable, acknowledged) costs at most the one allocation a Ledger's round does (the
// author's list of pending acks, which an idle member does not keep). The encoders are the
// caller's; the ack here allocates nothing.
func TestCoreAllocs(t *testing.T) {
	cfg := testCoreConfig
	cfg.Save.CompactEntries = 1 << 30
	c := NewCore[*tp, string, string](cfg, Encoders[string]{Ack: func(uint64) string { return "ack" }})
	c.Load(Loaded{})
	a, b := &tp{name: "a", subject: "s", cid: 1}, &tp{name: "b", subject: "s", cid: 2}
	c.Joined(a, a.cid, "sync")
	c.Joined(b, b.cid, "sync")
	c.Advance()
	data := []byte("d")
	round := func() {
		seq, _ := c.Receive(a)
		i := c.Apply(Applied[*tp, string]{From: a, Seq: seq, Changed: true, Data: data, Frame: "u"})
		c.Advance()
		c.AppendReported(i, i, 1, true)
		c.Release()
		c.Advance()
	}
	round()
	if n := testing.AllocsPerRun(100, round); n > 1 {
		t.Fatalf("allocations per round = %v; want at most 1", n)
	}
}

// BenchmarkCoreUpdate measures the core's share of an update round: applied, relayed to every
// other member, appended, reported durable, acknowledged (the effects listed, not carried out).
func BenchmarkCoreUpdate(b *testing.B) {
	for _, members := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			cfg := testCoreConfig
			cfg.MaxMembers = members
			cfg.Save.CompactEntries = 1 << 30
			c := NewCore[*tp, string, string](cfg, Encoders[string]{Ack: func(uint64) string { return "ack" }})
			c.Load(Loaded{})
			peers := make([]*tp, members)
			for i := range peers {
				peers[i] = &tp{name: fmt.Sprint(i), subject: "s", cid: uint64(i + 1)}
				c.Joined(peers[i], peers[i].cid, "sync")
			}
			c.Advance()
			data := []byte("d")
			b.ReportAllocs()
			for b.Loop() {
				seq, _ := c.Receive(peers[0])
				i := c.Apply(Applied[*tp, string]{From: peers[0], Seq: seq, Changed: true, Data: data, Frame: "u"})
				c.Advance()
				c.AppendReported(i, i, 1, true)
				c.Release()
				c.Advance()
			}
		})
	}
}
