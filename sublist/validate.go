package sublist

// The two wildcard tokens. They are wildcards only as whole tokens: as in
// nats-server, "foo*" or "a>b" is an ordinary literal token.
const (
	starToken = "*" // matches exactly one token
	tailToken = ">" // matches one or more tokens; last position only
)

// isSpace reports the bytes nats-server rejects inside a subject. The set
// (no \v, no NUL) is nats-server's, kept identical so that clients see the
// same "Invalid Subject" decisions from both servers.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// scanSubject checks a subject in one pass without allocating. ok means:
// non-empty, no empty token, no whitespace, and '>' only as the last token.
// wild reports whether any token is exactly "*" or ">". It is generic so the
// publish path can check a []byte straight out of the read buffer.
func scanSubject[S ~string | ~[]byte](s S) (ok, wild bool) {
	if len(s) == 0 {
		return false, false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if isSpace(s[i]) {
				return false, wild
			}
			continue
		}
		// s[start:i] is one token.
		switch {
		case i == start:
			return false, wild
		case i == start+1 && s[start] == '*':
			wild = true
		case i == start+1 && s[start] == '>':
			wild = true
			if i != len(s) {
				return false, wild // '>' must be the last token
			}
		}
		start = i + 1
	}
	return true, wild
}

// ValidPublishSubject reports whether subject may be published to: a valid
// subject with no wildcard token. It does not allocate.
func ValidPublishSubject(subject []byte) bool {
	ok, wild := scanSubject(subject)
	return ok && !wild
}

// ValidSubscribeSubject reports whether subject may be subscribed to:
// non-empty tokens, no whitespace, '*' as any whole token and '>' as the
// last whole token only. This is nats-server's IsValidSubject rule.
func ValidSubscribeSubject(subject string) bool {
	ok, _ := scanSubject(subject)
	return ok
}

// ValidQueueName reports whether q can name a queue group: non-empty and
// free of the whitespace that separates protocol arguments. Dots and
// wildcard characters are allowed; a queue name is an opaque label.
func ValidQueueName(q string) bool {
	if q == "" {
		return false
	}
	for i := 0; i < len(q); i++ {
		if isSpace(q[i]) {
			return false
		}
	}
	return true
}

// isWildcard reports whether a pattern token is a wildcard.
func isWildcard(tok string) bool { return tok == starToken || tok == tailToken }
