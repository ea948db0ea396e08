package crdttest

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// token is one token of a scenario line: raw as written, and its value (the
// decoded string of a JSON string literal, else raw).
type token struct {
	raw, val string
	quoted   bool
}

// tokenize splits a line into tokens; it stops after max tokens (max < 0: no
// limit) and returns the rest of the line, trimmed.
func tokenize(line string, max int) ([]token, string, error) {
	var toks []token
	s := line
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || len(toks) == max {
			return toks, strings.TrimSpace(s), nil
		}
		if s[0] == '"' {
			val, n, err := unquote(s)
			if err != nil {
				return nil, "", err
			}
			toks = append(toks, token{raw: s[:n], val: val, quoted: true})
			s = s[n:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return nil, "", errors.New("text after a string literal")
			}
			continue
		}
		n := strings.IndexAny(s, " \t")
		if n < 0 {
			n = len(s)
		}
		toks = append(toks, token{raw: s[:n], val: s[:n]})
		s = s[n:]
	}
}

// unquote decodes the JSON string literal at the start of s and returns its
// value and length. A lone surrogate escape (\ud800) decodes to its 3-byte
// WTF-8 form, which is not valid UTF-8, so that the CRDT refuses it as the
// JavaScript twin refuses a lone surrogate.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c < 0x20:
			return "", 0, errors.New("control character in a string literal")
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				return "", 0, errors.New("bad \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r < 0xdc00 && strings.HasPrefix(s[i:], `\u`) {
					if r2, ok := hex4(s[i+2:]); ok && r2 >= 0xdc00 && r2 < 0xe000 {
						b.WriteRune(utf16.DecodeRune(r, r2))
						i += 6
						continue
					}
				}
				b.WriteString(string([]byte{0xed, byte(0x80 | (r>>6)&0x3f), byte(0x80 | r&0x3f)}))
				continue
			}
			b.WriteRune(r)
			continue
		default:
			return "", 0, errors.New("bad escape")
		}
		i += 2
	}
	return "", 0, errors.New("unterminated string literal")
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:4], 16, 32)
	return rune(v), err == nil
}

// Quote returns s as a JSON string literal the way JavaScript's JSON.stringify
// writes it: only '"', '\\' and control characters below U+0020 are escaped
// (\b \f \n \r \t, else \u00xx in lowercase hex); everything else is literal
// UTF-8. Scenario output uses it so that Go and JavaScript print the same bytes.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				b.WriteByte(c)
				i++
				continue
			}
			_, n := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}
