package sublist

import "strings"

// patternMatches reports whether a subscription pattern, split into tokens,
// matches a literal subject. It is the trie's rule restated for a single
// pattern, used to find the cached subjects a wildcard Insert or Remove
// affects: '*' takes exactly one token, '>' one or more.
func patternMatches(pattern []string, subject string) bool {
	for i, p := range pattern {
		if subject == "" {
			return false // subject ran out before the pattern
		}
		if p == tailToken && i == len(pattern)-1 {
			return true
		}
		tok, rest, more := strings.Cut(subject, ".")
		if p != starToken && p != tok {
			return false
		}
		if !more {
			return i == len(pattern)-1
		}
		subject = rest
	}
	return false // subject has tokens left over
}
