package cliflag

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		usage    bool   // whether the flag set has a Usage function of its own
		wantErr  string // what the error says; "" for none
		wantHelp bool   // whether the error is flag.ErrHelp
		wantOut  string // what is printed; "" for nothing
		wantN    int
	}{
		{name: "good flag", args: []string{"-n", "3"}, wantN: 3},
		{name: "unknown flag", args: []string{"-bogus"}, wantErr: "flag provided but not defined: -bogus"},
		{name: "bad value", args: []string{"-n", "x"}, wantErr: `invalid value "x" for flag -n`},
		{name: "help with usage", args: []string{"-h"}, usage: true, wantHelp: true, wantOut: "usage: test [flags]\n"},
		{name: "help without usage", args: []string{"--help"}, wantHelp: true, wantOut: "usage of test:\n  -n int\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(&out)
			n := fs.Int("n", 0, "")
			fs.Usage = nil
			if tt.usage {
				fs.Usage = func() { fmt.Fprint(fs.Output(), "usage: test [flags]\n") }
			}
			err := Parse(fs, tt.args)
			switch {
			case tt.wantHelp:
				if !errors.Is(err, flag.ErrHelp) {
					t.Errorf("Parse(%q) = %v; want flag.ErrHelp", tt.args, err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Parse(%q) = %v; want an error saying %q", tt.args, err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("Parse(%q) = %v; want nil", tt.args, err)
			}
			if got := out.String(); !strings.HasPrefix(got, tt.wantOut) || (tt.wantOut == "" && got != "") {
				t.Errorf("Parse(%q) printed %q; want %q", tt.args, got, tt.wantOut)
			}
			if *n != tt.wantN {
				t.Errorf("Parse(%q) set -n to %d; want %d", tt.args, *n, tt.wantN)
			}
			if fs.Output() != &out {
				t.Errorf("Parse(%q) left the flag set's output changed", tt.args)
			}
		})
	}
}

func TestBadUsage(t *testing.T) {
	var stderr bytes.Buffer
	status := BadUsage(&stderr, "tandem watch", errors.New("name one document"))
	const want = "tandem watch: name one document\nrun 'tandem watch --help' for its flags\n"
	if got := stderr.String(); status != 2 || got != want {
		t.Errorf("BadUsage = %d, %q; want 2, %q", status, got, want)
	}
}
