package subjectmap

import "strings"

// span is one token of a subject, as byte offsets into it.
type span struct{ start, end int }

// maxStackTokens is how many tokens a subject may have before tokenizing
// it needs the heap; subjects on the message path have far fewer.
const maxStackTokens = 32

// tokenize appends the spans of subject's tokens to spans.
func tokenize(subject []byte, spans []span) []span {
	start := 0
	for i, c := range subject {
		if c == '.' {
			spans = append(spans, span{start, i})
			start = i + 1
		}
	}
	return append(spans, span{start, len(subject)})
}

// matches reports whether the literal subject matches the pattern's tokens
// ("*" one token, a final ">" one or more), without allocating.
func matches(pattern []string, subject []byte) bool {
	rest := subject
	for i, p := range pattern {
		if len(rest) == 0 && i > 0 {
			return false // the subject ran out of tokens
		}
		tok := rest
		next := -1
		for j, c := range rest {
			if c == '.' {
				tok, next = rest[:j], j+1
				break
			}
		}
		switch {
		case p == ">":
			return len(tok) > 0
		case p == "*":
			if len(tok) == 0 {
				return false
			}
		case p != string(tok):
			return false
		}
		if next < 0 {
			return i == len(pattern)-1
		}
		rest = rest[next:]
		if len(rest) == 0 {
			return false // a trailing '.' leaves an empty token
		}
	}
	return false // the subject has tokens beyond the pattern
}

// pattern is a parsed source: its tokens, the token index of each '*' in
// order (so wildcard n is token stars[n-1]), and whether it ends in ">".
type pattern struct {
	text   string
	tokens []string
	stars  []int
	full   bool // ends in ">"
	wild   bool // has '*' or '>'
}

// parsePattern checks a subject that may hold wildcards: non-empty tokens
// without white space, ">" only as the last token.
func parsePattern(s string) (pattern, error) {
	p := pattern{text: s}
	if s == "" {
		return p, errorf(s, "empty subject")
	}
	p.tokens = strings.Split(s, ".")
	for i, t := range p.tokens {
		switch {
		case t == "":
			return p, errorf(s, "empty token")
		case strings.ContainsAny(t, " \t\r\n\f"):
			return p, errorf(s, "white space in a token")
		case t == ">":
			if i != len(p.tokens)-1 {
				return p, errorf(s, "'>' is not the last token")
			}
			p.full, p.wild = true, true
		case t == "*":
			p.stars = append(p.stars, i)
			p.wild = true
		}
	}
	return p, nil
}
