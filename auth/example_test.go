package auth_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/tandemhq/tandem/auth"
)

func Example() {
	a, err := auth.New(auth.Config{Secret: []byte("an example secret of 32+ bytes..")})
	if err != nil {
		panic(err)
	}
	tok, err := a.Mint(auth.Claims{
		Subject:   "alice",
		Documents: "team-*",
		Role:      auth.RoleRead,
		Expires:   time.Now().Add(time.Hour),
	})
	if err != nil {
		panic(err)
	}

	// A client sends it as a bearer token (or as ?token= on a WebSocket upgrade).
	r := httptest.NewRequest("GET", "/v1/docs/team-notes", nil)
	r.Header.Set("Authorization", "Bearer "+string(tok))

	got, err := auth.FromRequest(r)
	if err != nil {
		panic(err)
	}
	c, err := a.Verify(got)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Subject, c.Role)
	fmt.Println("read team-notes:", c.Authorize("team-notes", false))
	fmt.Println("write team-notes is read-only:", errors.Is(c.Authorize("team-notes", true), auth.ErrReadOnly))
	fmt.Println("read other:", errors.Is(c.Authorize("other", false), auth.ErrDocumentNotAllowed))
	fmt.Println("printed token:", tok)
	// Output:
	// alice read
	// read team-notes: <nil>
	// write team-notes is read-only: true
	// read other: true
	// printed token: REDACTED
}

func ExampleMatch() {
	for _, id := range []string{"team-a", "team-", "team", "teamx"} {
		fmt.Println(id, auth.Match("team-*", id))
	}
	// Output:
	// team-a true
	// team- true
	// team false
	// teamx false
}

func ExampleRedactQuery() {
	fmt.Println(auth.RedactQuery("v=1&token=eyJhbGciOiJIUzI1NiJ9.e30.sig"))
	// Output: v=1&token=REDACTED
}
