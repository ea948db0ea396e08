package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
)

// Revocation. A token is valid until its expiry, whoever holds it; revocation takes that back
// before then. The deny list holds token IDs (the jti claim, which auth.Authority.Mint puts in
// every token) and subjects. A subject's revocation covers the tokens issued until then (iat at or
// before the revocation, to the second, and tokens without iat), so that the subject's new tokens
// work again: "sign this user out everywhere". Config.RevokedSubjects, by contrast, refuses every
// token of its subjects for as long as the server runs with it: a ban.
//
// The list is checked wherever a token is (authorize: every upgrade and HTTP request; an auth
// message), so a revoked token opens nothing new; and adding an entry closes, with 4401, every
// open connection whose current token it covers, before the request that added it is answered.
//
// Entries made through the HTTP API are kept in a JSON file (Config.RevocationsPath), rewritten
// whole and renamed into place on every change, so that they survive a restart. Each entry is kept
// until its Until, which should be the latest expiry of the tokens it covers (past it, they are
// refused as expired anyway); entries past it are dropped when the file is next written.

// Revocation is one entry of the deny list, as the administration API and the file show it.
type Revocation struct {
	// TokenID revokes the one token with this ID (jti). Exactly one of TokenID and Subject is set.
	TokenID string `json:"jti,omitempty"`
	// Subject revokes the subject's tokens issued at or before IssuedBefore.
	Subject string `json:"subject,omitempty"`
	// IssuedBefore is when a subject was revoked: its tokens issued until then (to the second)
	// are refused. Set by the server; absent for a token ID.
	IssuedBefore *time.Time `json:"issuedBefore,omitempty"`
	// Until is when the entry is forgotten: after it, the tokens it covers have expired.
	Until time.Time `json:"until"`
}

// revocationsFile is the layout of the file at Config.RevocationsPath.
type revocationsFile struct {
	Version     int          `json:"version"`
	Revocations []Revocation `json:"revocations"`
}

// revocationsFileVersion is the file's format version.
const revocationsFileVersion = 1

// denyList is the server's revoked tokens and subjects. It is safe for concurrent use.
type denyList struct {
	path   string          // the file the entries are kept in; "" keeps them in memory only
	banned map[string]bool // Config.RevokedSubjects: every token of these subjects; read-only

	// saveMu serializes changes: each writes the file with the new entries, then swaps them in,
	// so that no check waits for the disk.
	saveMu sync.Mutex

	mu       sync.RWMutex
	ids      map[string]time.Time  // token ID -> until; replaced whole, never modified
	subjects map[string]Revocation // subject -> its entry; replaced whole, never modified
}

// newDenyList returns the deny list of a server: the banned subjects, and the entries of the file
// at path (if it exists) that have not passed their Until at now.
func newDenyList(path string, banned []string, now time.Time) (*denyList, error) {
	d := &denyList{
		path:     path,
		banned:   make(map[string]bool, len(banned)),
		ids:      make(map[string]time.Time),
		subjects: make(map[string]Revocation),
	}
	for _, s := range banned {
		d.banned[s] = true
	}
	if path == "" {
		return d, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: revocations: %w", err)
	}
	var f revocationsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("server: revocations: %s: %w", path, err)
	}
	if f.Version != revocationsFileVersion {
		return nil, fmt.Errorf("server: revocations: %s: version %d, want %d", path, f.Version, revocationsFileVersion)
	}
	for _, r := range f.Revocations {
		if !r.Until.After(now) {
			continue
		}
		if err := d.put(r); err != nil {
			return nil, fmt.Errorf("server: revocations: %s: %w", path, err)
		}
	}
	return d, nil
}

// put adds r to the maps, replacing an entry for the same token ID or subject. d is not shared
// yet.
func (d *denyList) put(r Revocation) error {
	switch {
	case (r.TokenID == "") == (r.Subject == ""):
		return errors.New("an entry names a token id (jti) or a subject, one of them")
	case r.TokenID != "":
		d.ids[r.TokenID] = r.Until
	case r.IssuedBefore == nil:
		return fmt.Errorf("subject %q: no issuedBefore", r.Subject)
	default:
		d.subjects[r.Subject] = r
	}
	return nil
}

// denies reports whether a token of subject with ID id issued at issued is revoked.
func (d *denyList) denies(subject, id string, issued time.Time) bool {
	if d.banned[subject] {
		return true
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if id != "" {
		if _, ok := d.ids[id]; ok {
			return true
		}
	}
	if r, ok := d.subjects[subject]; ok {
		return issued.IsZero() || !issued.After(*r.IssuedBefore)
	}
	return false
}

// add puts r on the list and writes the file; on a failed write the list is left as it was. Entries
// past their Until at now are dropped.
func (d *denyList) add(r Revocation, now time.Time) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.RLock()
	oldIDs, oldSubjects := d.ids, d.subjects
	d.mu.RUnlock()
	next := &denyList{
		path:     d.path,
		ids:      make(map[string]time.Time, len(oldIDs)+1),
		subjects: make(map[string]Revocation, len(oldSubjects)+1),
	}
	for id, until := range oldIDs {
		if until.After(now) {
			next.ids[id] = until
		}
	}
	for s, e := range oldSubjects {
		if e.Until.After(now) {
			next.subjects[s] = e
		}
	}
	if err := next.put(r); err != nil {
		return err
	}
	if err := next.save(); err != nil {
		return err
	}
	d.mu.Lock()
	d.ids, d.subjects = next.ids, next.subjects
	d.mu.Unlock()
	return nil
}

// list returns the entries, token IDs first, each group sorted.
func (d *denyList) list() []Revocation {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Revocation, 0, len(d.ids)+len(d.subjects))
	for id, until := range d.ids {
		out = append(out, Revocation{TokenID: id, Until: until})
	}
	for _, r := range d.subjects {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Revocation) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return strings.Compare(a.TokenID, b.TokenID)
	})
	return out
}

// save writes the entries to d.path: to a temporary file, synced, then renamed over the old one,
// so that a crash leaves one version or the other. d is not shared.
func (d *denyList) save() error {
	if d.path == "" {
		return nil
	}
	f := revocationsFile{Version: revocationsFileVersion, Revocations: make([]Revocation, 0, len(d.ids)+len(d.subjects))}
	for id, until := range d.ids {
		f.Revocations = append(f.Revocations, Revocation{TokenID: id, Until: until})
	}
	for _, r := range d.subjects {
		f.Revocations = append(f.Revocations, r)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("server: revocations: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), filepath.Base(d.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("server: revocations: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, removes nothing
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("server: revocations: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("server: revocations: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("server: revocations: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path); err != nil {
		return fmt.Errorf("server: revocations: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(d.path)); err == nil {
		_ = dir.Sync() // make the rename durable where the platform allows
		dir.Close()
	}
	return nil
}

// errRevoked is what a connection closes with when its token is revoked.
var errRevoked = &protocol.Error{Code: protocol.CloseUnauthorized, Message: "token revoked"}

// reasonRevoked counts connections closed and requests refused for a revoked token.
const reasonRevoked = "token_revoked"

// revoke adds r to the deny list and closes, with 4401, every open connection whose current token
// it covers. It returns how many it closed.
func (s *Server) revoke(r Revocation) (int, error) {
	if err := s.sec.deny.add(r, time.Now()); err != nil {
		return 0, err
	}
	closed := 0
	s.eachConn(func(c *conn) {
		if s.connRevoked(c) {
			c.closeWith(errRevoked)
			closed++
		}
	})
	if closed > 0 {
		s.log.Info("revoked: connections closed", "jti", r.TokenID, "subject", r.Subject, "closed", closed)
	}
	return closed, nil
}

// connRevoked reports whether c's current token is on the deny list.
func (s *Server) connRevoked(c *conn) bool {
	ca := c.auth
	if ca == nil {
		return false // the server runs open
	}
	ca.mu.Lock()
	id, issued := ca.tokenID, ca.issued
	ca.mu.Unlock()
	if s.sec.deny.denies(c.subject, id, issued) {
		s.refuse(reasonRevoked)
		return true
	}
	return false
}

// validRevocationSubject reports whether s may be a token subject.
func validRevocationSubject(s string) bool {
	return s != "" && len(s) <= auth.MaxSubjectBytes && utf8.ValidString(s)
}

// Administration API. An admin is the holder of a valid token whose role is admin (`tandem token
// --role admin`); its document pattern does not matter here. On a server run without a token
// secret there are no tokens to revoke, and the routes answer 409.

// revocationRequest is the body of POST /v1/revocations: {"jti": "..."} or {"subject": "..."},
// and optionally {"until": "2026-12-31T00:00:00Z"}.
type revocationRequest struct {
	TokenID string     `json:"jti"`
	Subject string     `json:"subject"`
	Until   *time.Time `json:"until"`
}

// revocationResponse answers POST /v1/revocations.
type revocationResponse struct {
	Revocation Revocation `json:"revocation"`
	// Closed is the number of open connections the revocation closed.
	Closed int `json:"closed"`
}

// adminRequest authorizes an administration request. On failure it has answered and returns false.
func (s *Server) adminRequest(w http.ResponseWriter, r *http.Request) bool {
	if s.sec.authority == nil {
		writeError(w, http.StatusConflict, "auth_off", "the server runs without a token secret: there are no tokens to revoke")
		return false
	}
	who, err := s.authorize(r, "")
	if err != nil {
		s.refuseErr(err)
		s.writeHTTPError(w, err)
		return false
	}
	if !who.Role.CanAdminister() {
		s.refuse(reasonForbidden)
		s.warns.warn(nil, "forbidden: administration without the admin role", "who", who, "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "forbidden", "the administration API needs a token with the admin role")
		return false
	}
	return true
}

func (s *Server) handleListRevocations(w http.ResponseWriter, r *http.Request) {
	if !s.adminRequest(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Revocation{"revocations": s.sec.deny.list()})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.adminRequest(w, r) {
		return
	}
	body, err := readBody(w, r, 64<<10)
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req revocationRequest
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "bad JSON: "+err.Error())
		return
	}
	now := time.Now()
	rev := Revocation{TokenID: req.TokenID, Subject: req.Subject, Until: now.Add(s.cfg.RevocationTTL).UTC().Truncate(time.Second)}
	switch {
	case (req.TokenID == "") == (req.Subject == ""):
		writeError(w, http.StatusBadRequest, "bad_revocation", `give either "jti" (one token) or "subject" (all of its tokens issued until now)`)
		return
	case len(req.TokenID) > auth.MaxIDBytes:
		writeError(w, http.StatusBadRequest, "bad_revocation", fmt.Sprintf("jti of %d bytes, more than %d", len(req.TokenID), auth.MaxIDBytes))
		return
	case req.Subject != "" && !validRevocationSubject(req.Subject):
		writeError(w, http.StatusBadRequest, "bad_revocation", fmt.Sprintf("subject: want 1 to %d bytes of UTF-8", auth.MaxSubjectBytes))
		return
	case req.Until != nil && !req.Until.After(now):
		writeError(w, http.StatusBadRequest, "bad_revocation", "until is in the past: the tokens it would cover have expired")
		return
	}
	if req.Until != nil {
		rev.Until = req.Until.UTC()
	}
	if req.Subject != "" {
		t := now.UTC().Truncate(time.Second)
		rev.IssuedBefore = &t
	}
	closed, err := s.revoke(rev)
	if err != nil {
		s.writeHTTPError(w, err)
		return
	}
	s.log.Info("revoked", "jti", rev.TokenID, "subject", rev.Subject, "until", rev.Until, "closed", closed)
	writeJSON(w, http.StatusOK, revocationResponse{Revocation: rev, Closed: closed})
}
