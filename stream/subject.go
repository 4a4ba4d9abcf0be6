package stream

import (
	"strings"

	"github.com/wisp-mq/wisp/sublist"
)

// validSubject reports whether s is a usable subject or pattern: non-empty
// tokens separated by '.', '*' only as a whole token, '>' only as the last
// token, and no whitespace or control bytes (0x00 would break the subject
// index's key layout).
func validSubject(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '.')
		end := len(s)
		if j >= 0 {
			end = i + j
		}
		tok := s[i:end]
		if tok == "" {
			return false
		}
		if tok == ">" && end != len(s) {
			return false
		}
		for k := 0; k < len(tok); k++ {
			c := tok[k]
			if c <= ' ' || c == 0x7f || (c == '*' || c == '>') && len(tok) != 1 {
				return false
			}
		}
		if j < 0 {
			break
		}
		i = end + 1
		if i == len(s) {
			return false // trailing dot
		}
	}
	return true
}

// subjectMatches reports whether the literal subject matches pattern.
func subjectMatches(pattern, subject string) bool {
	for {
		pt, prest, pmore := cutToken(pattern)
		st, srest, smore := cutToken(subject)
		if pt == ">" {
			return st != ""
		}
		if pt != "*" && pt != st {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// subjectsCollide reports whether some literal subject matches both
// patterns a and b.
func subjectsCollide(a, b string) bool { return sublist.SubjectsCollide(a, b) }

// hasWildcard reports whether s contains a '*' or '>' token.
func hasWildcard(s string) bool {
	for {
		t, rest, more := cutToken(s)
		if t == "*" || t == ">" {
			return true
		}
		if !more {
			return false
		}
		s = rest
	}
}

func cutToken(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
