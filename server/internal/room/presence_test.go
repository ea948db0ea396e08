package room

import (
	"fmt"
	"strings"
	"testing"
)

// TestPresenceScenarios: awareness coalesced per interval, events in and flushed entries out.
// Commands: "set M CID CLOCK STATE" (STATE "-" is empty; prints "queued" if it is to be sent),
// "leave M CID", "flush" (prints the entries, cid:clock:state, "nil" for a removal), "current
// EXCEPT" (what a joiner of client EXCEPT gets).
func TestPresenceScenarios(t *testing.T) {
	tests := []struct{ name, script, want string }{
		{
			name: "the latest state per client, once per interval",
			script: `
set a 1 1 x
set a 1 2 y
set b 2 1 z
flush
flush`,
			want: `
queued
queued
queued
flush: 1:2:y 2:1:z
flush: nothing`,
		},
		{
			name: "a stale clock is dropped",
			script: `
set a 1 5 x
flush
set a 1 4 old
set a 1 5 same
flush`,
			want: `
queued
flush: 1:5:x
flush: nothing`,
		},
		{
			name: "a removal is sent once, then forgotten",
			script: `
set a 1 1 x
flush
set a 1 2 -
flush
current 0
set a 1 3 -`,
			want: `
queued
flush: 1:1:x
queued
flush: 1:2:nil
current: nothing`,
		},
		{
			name: "leaving removes the member's own state only",
			script: `
set a 1 1 x
set b 1 3 y
flush
leave a 1
leave b 1
flush`,
			want: `
queued
queued
flush: 1:3:y
queued
flush: 1:4:nil`,
		},
		{
			name: "a joiner gets every state but its own",
			script: `
set a 1 1 x
set b 2 1 y
set c 3 1 z
current 2`,
			want: `
queued
queued
queued
current: 1:1:x 3:1:z`,
		},
		{
			name: "a removal's clock passes the one it removes",
			script: `
set a 1 7 x
set a 1 3 -
flush`,
			want: `
queued
queued
flush: 1:8:nil`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPresence[string]()
			var out []string
			for _, line := range strings.Split(strings.TrimSpace(tt.script), "\n") {
				f := strings.Fields(line)
				num := func(i int) uint64 {
					var n uint64
					fmt.Sscan(f[i], &n)
					return n
				}
				switch f[0] {
				case "set":
					state := []byte(f[4])
					if f[4] == "-" {
						state = nil
					}
					if p.Set(f[1], num(2), num(3), state) {
						out = append(out, "queued")
					}
				case "leave":
					if p.Leave(f[1], num(2)) {
						out = append(out, "queued")
					}
				case "flush":
					out = append(out, "flush: "+printEntries(p.Flush()))
				case "current":
					out = append(out, "current: "+printEntries(p.Current(num(1))))
				}
			}
			if got, want := strings.Join(out, "\n"), strings.TrimSpace(tt.want); got != want {
				t.Fatalf("scenario:\n%s\ngot:\n%s\nwant:\n%s", strings.TrimSpace(tt.script), got, want)
			}
		})
	}
}

func printEntries(es []PresenceEntry) string {
	if len(es) == 0 {
		return "nothing"
	}
	var s []string
	for _, e := range es {
		state := string(e.State)
		if e.State == nil {
			state = "nil"
		}
		s = append(s, fmt.Sprintf("%d:%d:%s", e.ClientID, e.Clock, state))
	}
	return strings.Join(s, " ")
}
