// Package auth mints and verifies tandem's access tokens: HS256 JSON Web Tokens, signed with a
// secret the server and the token issuer share, that say who a client is (the subject), which
// documents it may open (one document ID, or a prefix pattern ending in '*'), whether it may write
// or only read (the role), and until when (the expiry).
//
// # What it owns, what it imports
//
// auth owns the token format, its claims, the roles ([Role], which the server uses for what a
// request may do), what a document ID is ([ValidDocumentID]), pattern matching of document IDs
// and the redaction of tokens in logs. It imports nothing of tandem's; the server calls
// [Authority.Verify] on every upgrade and HTTP request, and `tandem token` calls [Authority.Mint].
//
// # Token format
//
// A token is a compact JWS (RFC 7515) with the header {"alg":"HS256","typ":"JWT"} and these claims:
//
//	sub   string  the subject: who the client acts for (1 to 256 bytes)
//	docs  string  the documents: an ID, or a prefix followed by '*' ("team-*"; "*" alone is every document)
//	role  string  "read", "write" or "admin" (write, plus the server's administration API)
//	exp   number  the expiry, in Unix seconds (required)
//	iat   number  when it was minted, in Unix seconds (a subject's revocation covers the tokens issued until then)
//	jti   string  the token's ID, random, by which one token is revoked (optional; Mint always sets one)
//
// Verification is strict: the algorithm must be HS256 (so "none", RS256 and every other algorithm are
// refused before the signature is looked at), the signature must match, every claim above but iat
// and jti must be present and valid, and the expiry must be in the future with no leeway unless
// [Config.Leeway] grants one. A token longer than [MaxTokenBytes] is refused unread.
//
// # Patterns
//
// A document ID is 1 to 128 ASCII letters, digits, '.', '_', '-' and ':', other than "." and ".."
// (which URLs normalise away); [ValidDocumentID] is the one definition, which the server applies to
// every ID it is given. A pattern is either such an ID, which matches that document alone, or a
// prefix of 0 to 127 of those characters followed by '*', which matches every document ID that
// starts with the prefix (and is longer than it or equal to it). There is no other wildcard:
// "team-*" matches "team-x" and "team-" but neither "team" nor "teamx", and a '*' anywhere but at
// the end makes the pattern invalid.
//
// # Redaction
//
// [Token] and [Authority] implement slog.LogValuer and print as "REDACTED", so that passing one to a
// logger never writes the secret. [RedactURL] removes token values from a URL's query before it is
// logged. [Claims] are not secret and log as their fields.
//
// # Concurrency
//
// An [Authority] is immutable after [New]; its methods may be called from any goroutine. The
// functions of this package hold no state.
package auth
