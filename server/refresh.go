package server

import (
	"sync"
	"time"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
)

// Token refresh. A connection outlives the token it opened with only if its client sends a new
// one, in an auth message (docs/protocol.md, section 4.9), before the old one expires. The reader
// checks it as authorize checks the token of an upgrade (signature, expiry, deny list), and also
// that it is for the connection's subject and document; then the connection adopts its ID (what
// revocation looks for), its expiry (the close with 4401 moves there) and its role (a read token
// makes the connection read-only from the next update on, a write token lets it write unless its
// hello asked for read-only). A token that fails any check closes the connection with 4401.

// connAuth is what security keeps for an open connection of a server with a token secret: its
// current token's ID, issue time and expiry, and the timer that closes it at that expiry. The
// reader (refresh), the revocation pass and the connection's end use it; mu guards its fields.
type connAuth struct {
	mu      sync.Mutex
	tokenID string
	issued  time.Time
	expires time.Time
	stop    func() // cancels the close at expires
	release func() // gives back the connection's place among its subject's (admitConn)
	ended   bool   // the connection has ended: no new timer
}

// newConnAuth starts what security keeps for c, opened by who: the close at the token's expiry,
// and release to call when it ends.
func (s *Server) newConnAuth(c *conn, who principal, release func()) *connAuth {
	return &connAuth{
		tokenID: who.TokenID,
		issued:  who.Issued,
		expires: who.Expires,
		stop:    s.watchExpiry(who, c.closeWith),
		release: release,
	}
}

// end stops the expiry timer for good and releases the connection's place; the connection has
// ended. Calls after the first do nothing.
func (ca *connAuth) end() {
	ca.mu.Lock()
	if ca.ended {
		ca.mu.Unlock()
		return
	}
	ca.ended = true
	ca.stop()
	ca.mu.Unlock()
	ca.release() // takes the subjects' lock: not under ours
}

// refreshFailed is the refusal of an auth message's token.
func refreshFailed(reason string) error {
	return protocol.Errorf(protocol.CloseUnauthorized, "auth: %s", reason)
}

// refresh acts on an auth message of c: it adopts the new token, or returns the 4401 refusal to
// close with. The server running open accepts and ignores it. Only c's reader calls it.
func (c *conn) refresh(m *protocol.Auth) error {
	s, ca := c.srv(), c.auth
	if s.sec.authority == nil || ca == nil {
		return nil
	}
	p, err := s.verifyToken(auth.Token(m.Token))
	switch {
	case err != nil:
		s.warns.warn(nil, "auth message refused", "err", err, "conn", c.id(), "subject", c.subject)
		return refreshFailed(unauthorizedMessage(err))
	case p.Subject != c.subject:
		s.warns.warn(nil, "auth message refused: another subject", "conn", c.id(), "subject", c.subject, "new", p.Subject)
		return refreshFailed("the new token is for another subject")
	}
	// The document as at the upgrade: the token's pattern, then the Authorize hook (hooks.go).
	want := auth.RoleRead
	if p.Role.CanWrite() {
		want = auth.RoleWrite
	}
	if p, err = s.grant(c.ctx(), p, c.docID, want); err != nil {
		return refreshFailed("the new token does not allow this document")
	}
	ca.mu.Lock()
	if ca.ended {
		ca.mu.Unlock()
		return nil
	}
	ca.stop()
	ca.tokenID, ca.issued, ca.expires = p.TokenID, p.Issued, p.Expires
	ca.stop = s.watchExpiry(p, c.closeWith)
	ca.mu.Unlock()
	c.setFlag(connReadOnly, c.helloReadOnly || !p.Role.CanWrite())
	// A revocation that came between the check above and the adoption has looked at the old
	// token: look again.
	if s.connRevoked(c) {
		return errRevoked
	}
	c.log().Debug("token refreshed", "expires", p.Expires, "role", p.Role)
	return nil
}
