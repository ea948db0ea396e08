package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest secret [New] accepts: 32 bytes, the output size of SHA-256, as
// RFC 7518 section 3.2 requires for HS256. `openssl rand -base64 32` makes a good one.
const MinSecretBytes = 32

// MaxTokenBytes is the longest token [Authority.Verify] reads; a longer one is refused before it is
// decoded, so that a hostile header costs nothing. Tokens minted by [Authority.Mint] are far
// shorter (about 250 bytes).
const MaxTokenBytes = 4096

// Sentinel errors. The errors of this package wrap one of them; test with errors.Is.
var (
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("auth: no token")
	// ErrMalformed: the token is not a well-formed HS256 JWT (wrong number of parts, bad base64
	// or JSON, too long, or given twice in one request).
	ErrMalformed = errors.New("auth: malformed token")
	// ErrAlgorithm: the token's header names an algorithm other than HS256, "none" included.
	ErrAlgorithm = errors.New("auth: algorithm not allowed")
	// ErrSignature: the signature does not match the secret.
	ErrSignature = errors.New("auth: invalid signature")
	// ErrExpired: the token's expiry has passed (or its not-before time has not come).
	ErrExpired = errors.New("auth: token expired")
	// ErrInvalidClaims: a claim is missing or invalid (no subject, a bad document pattern, an
	// unknown role, no expiry).
	ErrInvalidClaims = errors.New("auth: invalid claims")
	// ErrDocumentNotAllowed: the token is valid but its pattern does not match the document.
	ErrDocumentNotAllowed = errors.New("auth: document not allowed")
	// ErrReadOnly: the token is valid for the document but its role is read, and the request
	// writes.
	ErrReadOnly = errors.New("auth: read-only token")
	// ErrWeakSecret: the secret given to [New] is shorter than [MinSecretBytes].
	ErrWeakSecret = errors.New("auth: secret too short")
)

// Config configures an [Authority].
type Config struct {
	// Secret is the HMAC key, at least MinSecretBytes long. New copies it.
	Secret []byte
	// Now is the clock that expiries are checked against; nil means time.Now.
	Now func() time.Time
	// Leeway is how long after its expiry a token is still accepted, for clocks that disagree
	// between the issuer and the server; zero means none. It is never applied to the expiry that
	// Claims report, so a server that closes a connection at Claims.Expires stays exact.
	Leeway time.Duration
}

// Authority mints and verifies tokens with one secret. It is immutable and safe for concurrent
// use. It logs as "REDACTED" so that the secret never reaches a log.
type Authority struct {
	secret []byte
	now    func() time.Time
	parser *jwt.Parser
}

// New returns an Authority for cfg. It refuses a secret shorter than MinSecretBytes (ErrWeakSecret)
// and a negative leeway.
func New(cfg Config) (*Authority, error) {
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrWeakSecret, len(cfg.Secret), MinSecretBytes)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: negative leeway %v", cfg.Leeway)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &Authority{secret: append([]byte(nil), cfg.Secret...), now: now}
	a.parser = jwt.NewParser(
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return a, nil
}

// LogValue implements slog.LogValuer: an Authority logs as "REDACTED".
func (a *Authority) LogValue() slog.Value { return slog.StringValue(redacted) }

// String returns "REDACTED", so that printing an Authority never shows its secret.
func (a *Authority) String() string { return redacted }

// GoString returns "REDACTED", for the %#v verb.
func (a *Authority) GoString() string { return redacted }

// jwtClaims is the claims set as it is encoded: the registered claims (sub, exp, iat, nbf...) plus
// tandem's own.
type jwtClaims struct {
	jwt.RegisteredClaims
	Documents string `json:"docs"`
	Role      Role   `json:"role"`
}

// Mint returns a signed token carrying c. The claims must be valid ([Claims.Validate]); an expiry
// in the past is allowed (tests mint expired tokens) but makes a token no server accepts. Times
// are rounded down to whole seconds, the precision of a JWT. IssuedAt is set to now if it is zero,
// and ID to a random one ([NewID]) if it is empty.
func (a *Authority) Mint(c Claims) (Token, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = a.now()
	}
	id := c.ID
	if id == "" {
		var err error
		if id, err = NewID(); err != nil {
			return "", err
		}
	}
	jc := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        id,
			Subject:   c.Subject,
			ExpiresAt: jwt.NewNumericDate(c.Expires),
			IssuedAt:  jwt.NewNumericDate(iat),
		},
		Documents: c.Documents,
		Role:      c.Role,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jc).SignedString(a.secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return Token(s), nil
}

// errAlgorithm is what the key function returns for a header that does not name HS256; Verify
// finds it in the parser's error and maps it to ErrAlgorithm.
var errAlgorithm = errors.New("auth: unexpected signing method")

// errCritical is what the key function returns for a header with a "crit" member; Verify maps
// it to ErrMalformed.
var errCritical = errors.New("auth: critical header extension not understood")

// numericDateClaims are the registered claims that RFC 7519 (section 2) makes NumericDates: JSON
// numbers of seconds.
var numericDateClaims = [...]string{"exp", "nbf", "iat"}

// checkNumericDates returns an error wrapping ErrInvalidClaims if the payload of tok (a token
// whose signature is verified) holds exp, nbf or iat as anything but a JSON number. The jwt
// package reads a number inside a string ("exp":"99999999999") as the number itself; RFC 7519
// wants a NumericDate, and a claim that two parsers can read differently is refused.
func checkNumericDates(tok Token) error {
	parts := strings.Split(string(tok), ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: %d parts", ErrMalformed, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw, &claims); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	for _, name := range numericDateClaims {
		v, ok := claims[name]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("%w: %s is not a number", ErrInvalidClaims, name)
		}
	}
	return nil
}

// Verify checks tok's algorithm, signature and claims and returns the claims. The error wraps
// ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired or ErrInvalidClaims; its text never
// contains the token.
func (a *Authority) Verify(tok Token) (Claims, error) {
	if tok == "" {
		return Claims{}, ErrNoToken
	}
	if len(tok) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(tok), MaxTokenBytes)
	}
	var jc jwtClaims
	_, err := a.parser.ParseWithClaims(string(tok), &jc, func(t *jwt.Token) (any, error) {
		// Comparing the method itself, not only its name, refuses "none" and every algorithm
		// whose key would be something other than our secret.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errAlgorithm
		}
		// RFC 7515 section 4.1.11: a recipient that does not understand every extension a
		// "crit" header lists must refuse the token. This package understands none, so any
		// crit header (even an empty or null one, which the RFC forbids) is refused.
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritical
		}
		return a.secret, nil
	})
	if err != nil {
		return Claims{}, mapJWTError(err)
	}
	if err := checkNumericDates(tok); err != nil {
		return Claims{}, err
	}
	c := Claims{
		Subject:   jc.Subject,
		Documents: jc.Documents,
		Role:      jc.Role,
		ID:        jc.ID,
	}
	if jc.ExpiresAt != nil {
		c.Expires = jc.ExpiresAt.Time.UTC()
	}
	if jc.IssuedAt != nil {
		c.IssuedAt = jc.IssuedAt.Time.UTC()
	}
	if err := c.Validate(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// mapJWTError turns an error of the jwt package into one wrapping this package's sentinels. The
// jwt error's text goes along as detail: it describes the token's structure, never its content.
func mapJWTError(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, errCritical):
		sentinel = ErrMalformed
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		sentinel = ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		sentinel = ErrInvalidClaims
	case errors.Is(err, errAlgorithm), errors.Is(err, jwt.ErrTokenUnverifiable):
		// The key function refused the header's algorithm, or the header names one the jwt
		// package does not know.
		sentinel = ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = ErrSignature
	default:
		sentinel = ErrMalformed
	}
	return fmt.Errorf("%w: %s", sentinel, err.Error())
}

// NewID returns a random token ID: 16 bytes from crypto/rand, base64url without padding (22
// characters).
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
