package subjectmap

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Transform rewrites subjects that match its source into its destination.
type Transform struct {
	src   pattern
	dest  string
	parts []part
	// fixed is set when the destination has no function and no ">": every
	// match becomes the destination as written.
	fixed bool
}

// NewTransform parses a source pattern and a destination template. An
// empty source means ">" (every subject). The destination may not hold
// '*'; it ends in ">" exactly when the source does; every wildcard number
// it uses must name a '*' of the source. The error wraps ErrInvalid.
func NewTransform(src, dest string) (*Transform, error) {
	if src == "" {
		src = ">"
	}
	sp, err := parsePattern(src)
	if err != nil {
		return nil, err
	}
	if dest == "" {
		return nil, errorf(dest, "empty destination")
	}
	t := &Transform{src: sp, dest: dest, fixed: true}
	toks := strings.Split(dest, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return nil, errorf(dest, "empty token in the destination")
		case tok == "*":
			return nil, errorf(dest, "the destination may not hold '*': use {{wildcard(n)}}")
		case tok == ">" && i != len(toks)-1:
			return nil, errorf(dest, "'>' is not the last token")
		}
		p, err := parsePart(tok, &sp)
		if err != nil {
			return nil, err
		}
		if p.fn != fnLiteral {
			t.fixed = false
		}
		t.parts = append(t.parts, p)
	}
	destFull := toks[len(toks)-1] == ">"
	if destFull != sp.full {
		return nil, errorf(dest, "the destination must end in '>' exactly when the source %q does", src)
	}
	return t, nil
}

// Source is the pattern the transform applies to.
func (t *Transform) Source() string { return t.src.text }

// Destination is the template as written.
func (t *Transform) Destination() string { return t.dest }

// Matches reports whether subject (a literal subject) matches the source.
func (t *Transform) Matches(subject []byte) bool {
	if !t.src.wild {
		return string(subject) == t.src.text
	}
	return matches(t.src.tokens, subject)
}

// Append appends the transform of subject, which must match the source,
// to dst. With a buffer of room enough it allocates nothing.
func (t *Transform) Append(dst, subject []byte) []byte {
	return t.appendWith(dst, subject, rand.IntN)
}

// Apply transforms subject when it matches the source, and reports
// whether it did; a convenience for paths that are not per message.
func (t *Transform) Apply(subject string) (string, bool) {
	b := []byte(subject)
	if !t.Matches(b) {
		return subject, false
	}
	return string(t.Append(nil, b)), true
}

// appendWith is Append with the random source given (random() and the
// tests' seeded runs).
func (t *Transform) appendWith(dst, subject []byte, intn func(int) int) []byte {
	if t.fixed {
		return append(dst, t.dest...)
	}
	var stack [maxStackTokens]span
	toks := tokenize(subject, stack[:0])
	for i, p := range t.parts {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = p.append(dst, subject, toks, len(t.src.tokens), intn)
	}
	return dst
}

// append writes one destination token (or, for ">", the rest).
func (p *part) append(dst, subject []byte, toks []span, srcLen int, intn func(int) int) []byte {
	token := func(k int) []byte { return subject[toks[k].start:toks[k].end] }
	switch p.fn {
	case fnLiteral:
		return append(dst, p.lit...)
	case fnRest:
		// The source's ">" is its last token, at index srcLen-1.
		return append(dst, subject[toks[srcLen-1].start:]...)
	case fnWildcard:
		return append(dst, token(p.toks[0])...)
	case fnPartition:
		h := fnvOffset
		if len(p.toks) == 0 {
			h = fnvAdd(h, subject)
		}
		for _, k := range p.toks {
			h = fnvAdd(h, token(k))
		}
		return strconv.AppendUint(dst, uint64(h%uint32(p.n)), 10)
	case fnRandom:
		return strconv.AppendInt(dst, int64(intn(p.n)), 10)
	case fnSplit:
		return appendSplit(dst, token(p.toks[0]), p.sep)
	}
	tok := token(p.toks[0])
	if p.n <= 0 || p.n >= len(tok) {
		return append(dst, tok...) // too short to cut: the token unchanged
	}
	switch p.fn {
	case fnSplitFromLeft:
		return append(append(append(dst, tok[:p.n]...), '.'), tok[p.n:]...)
	case fnSplitFromRight:
		cut := len(tok) - p.n
		return append(append(append(dst, tok[:cut]...), '.'), tok[cut:]...)
	case fnSliceFromLeft:
		return appendSlices(dst, tok, 0, p.n)
	case fnSliceFromRight:
		return appendSlices(dst, tok, len(tok)%p.n, p.n)
	case fnLeft:
		return append(dst, tok[:p.n]...)
	case fnRight:
		return append(dst, tok[len(tok)-p.n:]...)
	}
	return dst
}

// appendSplit writes the non-empty pieces of tok between delimiters, one
// token each.
func appendSplit(dst, tok, sep []byte) []byte {
	first := true
	for len(tok) > 0 {
		piece := tok
		if i := bytes.Index(tok, sep); i >= 0 {
			piece, tok = tok[:i], tok[i+len(sep):]
		} else {
			tok = nil
		}
		if len(piece) == 0 {
			continue
		}
		if !first {
			dst = append(dst, '.')
		}
		dst, first = append(dst, piece...), false
	}
	return dst
}

// appendSlices writes tok as pieces of size bytes, with a shorter piece
// of head bytes first (slicing from the right) or last (from the left).
func appendSlices(dst, tok []byte, head, size int) []byte {
	if head > 0 {
		dst = append(append(dst, tok[:head]...), '.')
	}
	for i := head; i < len(tok); i += size {
		if i > head {
			dst = append(dst, '.')
		}
		dst = append(dst, tok[i:min(i+size, len(tok))]...)
	}
	return dst
}

// FNV-1a, 32 bits, as nats-server hashes partition keys; written out so
// hashing allocates nothing.
const (
	fnvOffset uint32 = 2166136261
	fnvPrime  uint32 = 16777619
)

func fnvAdd(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime
	}
	return h
}
