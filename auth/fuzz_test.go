package auth

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify: it never panics, and whatever it accepts has valid
// claims that have not expired.
func FuzzVerify(f *testing.F) {
	now := testNow
	a, err := New(Config{Secret: testSecret, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	good, err := a.Mint(validClaims())
	if err != nil {
		f.Fatal(err)
	}
	exp := itoa(testNow.Add(time.Hour).Unix())
	f.Add(string(good))
	f.Add(string(handMade(`{"alg":"none"}`, `{"sub":"a","docs":"a","role":"read","exp":`+exp+`}`, "", nil)))
	f.Add(string(handMade(`{"alg":"HS256"}`, `{"sub":"a","docs":"*","role":"write","exp":`+exp+`}`, "HS256", testSecret)))
	f.Add("..")
	f.Add("a.b.c")
	f.Add(strings.Repeat("e", 100) + ".." + strings.Repeat("A", 50))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := a.Verify(Token(s))
		if err != nil {
			if c != (Claims{}) {
				t.Fatalf("Verify(%q) = %+v with error %v; want zero claims", s, c, err)
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Verify(%q) accepted invalid claims %+v: %v", s, c, verr)
		}
		if !now.Before(c.Expires) {
			t.Fatalf("Verify(%q) accepted claims expiring at %v, at %v", s, c.Expires, now)
		}
	})
}

// FuzzRedactQuery checks that no token value survives RedactQuery, however the query is spelled.
func FuzzRedactQuery(f *testing.F) {
	f.Add("token=abc")
	f.Add("a=1&TOKEN=x&b=2")
	f.Add("tok%65n=s&access_token=t")
	f.Add("%zz&token=")
	f.Fuzz(func(t *testing.T, q string) {
		got := RedactQuery(q)
		vals, _ := url.ParseQuery(got) // the parse error, if any, is about other parameters
		for k, vs := range vals {
			if !strings.EqualFold(k, "token") && !strings.EqualFold(k, "access_token") {
				continue
			}
			for _, v := range vs {
				if v != "" && v != "REDACTED" {
					t.Fatalf("RedactQuery(%q) = %q: %s=%q survived", q, got, k, v)
				}
			}
		}
	})
}

// FuzzMatch checks Match against its definition.
func FuzzMatch(f *testing.F) {
	f.Add("team-*", "team-x")
	f.Add("*", "a")
	f.Add("a", "a")
	f.Add("a*b", "axb")
	f.Fuzz(func(t *testing.T, p, id string) {
		got := Match(p, id)
		if !got {
			return
		}
		if ValidatePattern(p) != nil || !ValidDocumentID(id) {
			t.Fatalf("Match(%q, %q) = true for an invalid pattern or id", p, id)
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if !strings.HasPrefix(id, prefix) || strings.Contains(prefix, "*") {
				t.Fatalf("Match(%q, %q) = true; the id lacks the prefix", p, id)
			}
		} else if p != id {
			t.Fatalf("Match(%q, %q) = true; want exact match", p, id)
		}
	})
}
