package subjectmap

import (
	"math"
	"strconv"
	"strings"
)

// fn is what one destination token computes.
type fn uint8

const (
	fnLiteral fn = iota // the token as written
	fnRest              // ">": the tokens the source's ">" matched
	fnWildcard
	fnPartition
	fnSplit
	fnSplitFromLeft
	fnSplitFromRight
	fnSliceFromLeft
	fnSliceFromRight
	fnLeft
	fnRight
	fnRandom
)

// part is one parsed destination token.
type part struct {
	fn   fn
	lit  string // fnLiteral: the text
	sep  []byte // fnSplit: the delimiter
	toks []int  // indexes of the subject tokens the function reads
	n    int    // partitions, cut position or slice size
}

// functions maps the lower-cased function names to their kind; matching
// ignores case, as nats-server accepts "Wildcard" and "wildcard".
var functions = map[string]fn{
	"wildcard":       fnWildcard,
	"partition":      fnPartition,
	"split":          fnSplit,
	"splitfromleft":  fnSplitFromLeft,
	"splitfromright": fnSplitFromRight,
	"slicefromleft":  fnSliceFromLeft,
	"slicefromright": fnSliceFromRight,
	"left":           fnLeft,
	"right":          fnRight,
	"random":         fnRandom,
}

// parsePart reads one destination token against the source. A token is a
// function call when it is wrapped in "{{ }}", and a wildcard reference
// when it is "$" and a number (the older form); anything else is literal.
func parsePart(tok string, src *pattern) (part, error) {
	if tok == ">" {
		return part{fn: fnRest}, nil
	}
	if len(tok) > 1 && tok[0] == '$' {
		n, err := strconv.Atoi(tok[1:])
		if err != nil {
			return part{fn: fnLiteral, lit: tok}, nil // "$x" is a literal, as in nats-server
		}
		i, err := wildcardToken(tok, n, src)
		return part{fn: fnWildcard, toks: []int{i}}, err
	}
	if !(len(tok) > 4 && strings.HasPrefix(tok, "{{") && strings.HasSuffix(tok, "}}")) {
		if strings.ContainsAny(tok, " \t\r\n\f") {
			return part{}, errorf(tok, "white space in a destination token")
		}
		return part{fn: fnLiteral, lit: tok}, nil
	}
	body := strings.TrimSpace(tok[2 : len(tok)-2])
	open := strings.IndexByte(body, '(')
	if open < 0 || !strings.HasSuffix(body, ")") {
		return part{}, errorf(tok, "expected a function call such as {{wildcard(1)}}")
	}
	kind, ok := functions[strings.ToLower(strings.TrimSpace(body[:open]))]
	if !ok {
		return part{}, errorf(tok, "unknown function %q", strings.TrimSpace(body[:open]))
	}
	var args []string
	if inner := strings.TrimSpace(body[open+1 : len(body)-1]); inner != "" {
		args = strings.Split(inner, ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
	}
	return parseCall(tok, kind, args, src)
}

// parseCall checks a function's arguments and resolves its wildcard
// numbers to token indexes of the source.
func parseCall(tok string, kind fn, args []string, src *pattern) (part, error) {
	p := part{fn: kind}
	switch kind {
	case fnWildcard:
		if err := argCount(tok, args, 1, 1); err != nil {
			return p, err
		}
		i, err := wildcardArg(tok, args[0], src)
		p.toks = []int{i}
		return p, err
	case fnPartition:
		if err := argCount(tok, args, 1, math.MaxInt); err != nil {
			return p, err
		}
		var err error
		if p.n, err = intArg(tok, args[0], 1); err != nil {
			return p, err
		}
		for _, a := range args[1:] {
			i, err := wildcardArg(tok, a, src)
			if err != nil {
				return p, err
			}
			p.toks = append(p.toks, i)
		}
		return p, nil
	case fnRandom:
		if err := argCount(tok, args, 1, 1); err != nil {
			return p, err
		}
		var err error
		p.n, err = intArg(tok, args[0], 1)
		return p, err
	case fnSplit:
		if err := argCount(tok, args, 2, 2); err != nil {
			return p, err
		}
		i, err := wildcardArg(tok, args[0], src)
		if err != nil {
			return p, err
		}
		if args[1] == "" || strings.ContainsAny(args[1], ". \t") {
			return p, errorf(tok, "the delimiter must be non-empty and hold no '.' or space")
		}
		p.toks, p.sep = []int{i}, []byte(args[1])
		return p, nil
	default: // splitFrom*, sliceFrom*, left, right: (wildcard, size)
		if err := argCount(tok, args, 2, 2); err != nil {
			return p, err
		}
		i, err := wildcardArg(tok, args[0], src)
		if err != nil {
			return p, err
		}
		p.toks = []int{i}
		p.n, err = intArg(tok, args[1], 0)
		return p, err
	}
}

func argCount(tok string, args []string, least, most int) error {
	switch {
	case len(args) < least:
		return errorf(tok, "not enough arguments")
	case len(args) > most:
		return errorf(tok, "too many arguments")
	}
	return nil
}

// intArg reads a whole number of at least min that fits in 32 bits.
func intArg(tok, arg string, min int) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < min || n > math.MaxInt32 {
		return 0, errorf(tok, "argument %q is not a whole number from %d to %d", arg, min, math.MaxInt32)
	}
	return n, nil
}

// wildcardArg reads a wildcard number and returns the source token it names.
func wildcardArg(tok, arg string, src *pattern) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return 0, errorf(tok, "wildcard number %q is not a whole number", arg)
	}
	return wildcardToken(tok, n, src)
}

func wildcardToken(tok string, n int, src *pattern) (int, error) {
	if n < 1 || n > len(src.stars) {
		if len(src.stars) == 0 {
			return 0, errorf(tok, "wildcard %d out of range: the source %q has no '*' wildcard", n, src.text)
		}
		return 0, errorf(tok, "wildcard %d out of range: the source %q has %d '*' wildcard(s)", n, src.text, len(src.stars))
	}
	return src.stars[n-1], nil
}
