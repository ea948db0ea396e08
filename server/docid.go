package server

// maxDocIDLen is the longest document ID, in bytes (all ID characters are ASCII).
const maxDocIDLen = 128

// validDocID reports whether id is a document ID: 1 to 128 characters of letters, digits, '.', '_',
// '-' and ':'. No slash, so that an ID is one path segment; no percent sign or space, so that it
// needs no escaping in a URL. "." and ".." are refused too: clients and proxies rewrite them out of
// paths, so no URL could reach such a document.
func validDocID(id string) bool {
	if len(id) == 0 || len(id) > maxDocIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}
