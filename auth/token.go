package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// redacted is what secrets print as.
const redacted = "REDACTED"

// QueryParam is the URL query parameter that carries a token, for clients that cannot set
// headers (a browser's WebSocket).
const QueryParam = "token"

// Token is an encoded token. It prints, logs and marshals as "REDACTED" (String, GoString,
// LogValue, MarshalText), so that neither fmt, slog nor encoding/json ever shows it, even inside a
// struct or a map; string(t) gives its text, for the few places that need it (a header, a URL,
// the output of `tandem token`).
type Token string

// String returns "REDACTED".
func (t Token) String() string { return redacted }

// GoString returns "REDACTED", for the %#v verb.
func (t Token) GoString() string { return redacted }

// LogValue implements slog.LogValuer: a token logs as "REDACTED".
func (t Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler: a token encodes as "REDACTED", in JSON too. To
// send a token in JSON, convert it to a string first.
func (t Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// FromRequest returns the token of r: the credentials of an "Authorization: Bearer <token>"
// header, or else the value of the "token" query parameter. It returns ErrNoToken if there is
// neither, and ErrMalformed if the header is not a bearer token, or if a request carries more than
// one token (two query values, or a header and a query value that differ): a request must say
// unambiguously who it is.
func FromRequest(r *http.Request) (Token, error) {
	var header Token
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return "", fmt.Errorf("%w: %d authorization headers", ErrMalformed, len(vals))
		}
		scheme, cred, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", fmt.Errorf("%w: authorization header is not a bearer token", ErrMalformed)
		}
		cred = strings.TrimSpace(cred)
		if cred == "" {
			return "", fmt.Errorf("%w: empty bearer token", ErrMalformed)
		}
		header = Token(cred)
	}
	var query Token
	if vals, ok := r.URL.Query()[QueryParam]; ok {
		if len(vals) > 1 {
			return "", fmt.Errorf("%w: %d %q query parameters", ErrMalformed, len(vals), QueryParam)
		}
		query = Token(vals[0])
	}
	switch {
	case header != "" && query != "" && header != query:
		return "", fmt.Errorf("%w: different tokens in the header and the query", ErrMalformed)
	case header != "":
		return header, nil
	case query != "":
		return query, nil
	}
	return "", ErrNoToken
}

// redactedParams are the query parameters whose values RedactQuery hides, compared without case.
var redactedParams = [...]string{QueryParam, "access_token"}

// RedactQuery returns the raw query q with the value of every token parameter ("token",
// "access_token", in any case, escaped or not) replaced by "REDACTED". Other parameters, and
// their order, are kept byte for byte, so that the rest of a logged URL stays useful.
func RedactQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	changed := false
	for i, part := range parts {
		key, _, hasValue := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		for _, name := range redactedParams {
			if strings.EqualFold(key, name) && hasValue {
				parts[i] = part[:strings.IndexByte(part, '=')+1] + redacted
				changed = true
			}
		}
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}

// RedactURL returns u as a string fit for a log: token parameters redacted as by RedactQuery, and
// a password in the user information replaced, as url.URL.Redacted does. u is not modified; a nil
// u gives "".
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.RawQuery = RedactQuery(u.RawQuery)
	return c.Redacted()
}
