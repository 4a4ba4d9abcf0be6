package sublist

import "strings"

// node is one trie level: the children reached by the next token, and the
// subscriptions whose pattern ends here. The trie is guarded by
// Sublist.mu; nothing in this file locks.
type node[T comparable] struct {
	literal map[string]*node[T] // children by literal token
	star    *node[T]            // child for a '*' token
	tail    *node[T]            // child for a '>' token; always a leaf

	pattern string // the full pattern ending here, kept for Range
	plain   subSet[T]
	queues  map[string]*subSet[T]
}

// idle reports whether n holds nothing and can be pruned.
func (n *node[T]) idle() bool {
	return len(n.literal) == 0 && n.star == nil && n.tail == nil &&
		n.plain.len() == 0 && len(n.queues) == 0
}

// child returns the child for tok, or nil.
func (n *node[T]) child(tok string) *node[T] {
	switch tok {
	case starToken:
		return n.star
	case tailToken:
		return n.tail
	}
	return n.literal[tok]
}

// makeChild returns the child for tok, creating it if needed.
func (n *node[T]) makeChild(tok string) *node[T] {
	if c := n.child(tok); c != nil {
		return c
	}
	c := &node[T]{}
	switch tok {
	case starToken:
		n.star = c
	case tailToken:
		n.tail = c
	default:
		if n.literal == nil {
			n.literal = make(map[string]*node[T])
		}
		n.literal[tok] = c
	}
	return c
}

// dropChild unlinks the child for tok.
func (n *node[T]) dropChild(tok string) {
	switch tok {
	case starToken:
		n.star = nil
	case tailToken:
		n.tail = nil
	default:
		delete(n.literal, tok)
	}
}

// set returns the subSet for queue ("" = plain), creating it if asked.
func (n *node[T]) set(queue string, create bool) *subSet[T] {
	if queue == "" {
		return &n.plain
	}
	s := n.queues[queue]
	if s == nil && create {
		if n.queues == nil {
			n.queues = make(map[string]*subSet[T])
		}
		s = &subSet[T]{}
		n.queues[queue] = s
	}
	return s
}

// insert adds v under a validated pattern and reports whether it was new.
func (n *node[T]) insert(pattern, queue string, v T) bool {
	for rest := pattern; ; {
		tok, more, found := strings.Cut(rest, ".")
		n = n.makeChild(tok)
		if !found {
			break
		}
		rest = more
	}
	n.pattern = pattern
	return n.set(queue, true).add(v)
}

// remove deletes v from a validated pattern, pruning nodes left idle so the
// trie does not keep the shape of every subject ever subscribed. It
// reports whether v was there.
func (n *node[T]) remove(pattern, queue string, v T) bool {
	var buf [16]*node[T]
	path := append(buf[:0], n)
	for rest := pattern; ; {
		tok, more, found := strings.Cut(rest, ".")
		if n = n.child(tok); n == nil {
			return false
		}
		path = append(path, n)
		if !found {
			break
		}
		rest = more
	}
	s := n.set(queue, false)
	if s == nil || !s.remove(v) {
		return false
	}
	if queue != "" && s.len() == 0 {
		delete(n.queues, queue)
	}
	prune(path, pattern)
	return true
}

// prune unlinks idle nodes from the end of path upwards; path[i+1] is the
// child of path[i] for the i-th token of pattern. It peels tokens off the
// end of pattern as it climbs, so a Remove that prunes nothing allocates
// nothing.
func prune[T comparable](path []*node[T], pattern string) {
	for i := len(path) - 1; i > 0 && path[i].idle(); i-- {
		j := strings.LastIndexByte(pattern, '.')
		path[i-1].dropChild(pattern[j+1:])
		if j < 0 {
			return
		}
		pattern = pattern[:j]
	}
}

// match appends to out every node holding subscriptions that a subject
// (already split into tokens) reaches: through the literal child, the '*'
// child, and any '>' child, which takes all remaining tokens (at least one).
func (n *node[T]) match(toks [][]byte, out []*node[T]) []*node[T] {
	if len(toks) == 0 {
		return n.appendIfHolding(out)
	}
	if n.tail != nil {
		out = n.tail.appendIfHolding(out)
	}
	if n.star != nil {
		out = n.star.match(toks[1:], out)
	}
	if l := n.literal[string(toks[0])]; l != nil { // no allocation: map index idiom
		out = l.match(toks[1:], out)
	}
	return out
}

func (n *node[T]) appendIfHolding(out []*node[T]) []*node[T] {
	if n.plain.len() > 0 || len(n.queues) > 0 {
		out = append(out, n)
	}
	return out
}

// walk calls fn for every node holding subscriptions; it stops when fn
// returns false and reports whether it ran to the end.
func (n *node[T]) walk(fn func(*node[T]) bool) bool {
	if (n.plain.len() > 0 || len(n.queues) > 0) && !fn(n) {
		return false
	}
	for _, c := range n.literal {
		if !c.walk(fn) {
			return false
		}
	}
	for _, c := range [2]*node[T]{n.star, n.tail} {
		if c != nil && !c.walk(fn) {
			return false
		}
	}
	return true
}
