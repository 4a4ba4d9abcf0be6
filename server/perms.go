package server

import (
	"strings"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/protocol"
	"github.com/wisp-mq/wisp/sublist"
)

// Permissions limit what one user may publish and subscribe to, as in
// nats-server. Each list holds subjects with wildcards. An empty Allow list
// allows everything; Deny wins over Allow.
type Permissions struct {
	Publish   SubjectPermission
	Subscribe SubjectPermission
	// Responses, when set, lets the user publish to the reply subject of
	// each request it received (Publish.Allow need not list _INBOX.>). As
	// in nats-server, it also makes an empty Publish.Allow mean "nothing
	// but responses".
	Responses *ResponsePermission
}

// SubjectPermission is an allow and a deny list of subjects.
type SubjectPermission struct {
	Allow []string
	Deny  []string
}

// ResponsePermission bounds allow_responses: how many responses each
// received request allows (default 1) and for how long (0 = no limit).
type ResponsePermission struct {
	MaxMsgs int
	Expires time.Duration
}

// validate names the first bad subject in p.
func (p *Permissions) validate(user string, bad func(name, format string, args ...any)) {
	lists := []struct {
		name string
		subs []string
	}{
		{"publish.allow", p.Publish.Allow}, {"publish.deny", p.Publish.Deny},
		{"subscribe.allow", p.Subscribe.Allow}, {"subscribe.deny", p.Subscribe.Deny},
	}
	for _, l := range lists {
		for _, s := range l.subs {
			if !sublist.ValidSubscribeSubject(s) {
				bad("permissions", "user %q: %s: %q is not a valid subject", user, l.name, s)
			}
		}
	}
	if r := p.Responses; r != nil && (r.MaxMsgs < 0 || r.Expires < 0) {
		bad("permissions", "user %q: allow_responses: max and expires must not be negative", user)
	}
}

// pattern is a subject split into tokens, possibly with wildcards.
type pattern []string

func compile(subjects []string) []pattern {
	out := make([]pattern, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, strings.Split(s, "."))
	}
	return out
}

// matchLiteral reports whether the literal subject matches p, without
// allocating.
func (p pattern) matchLiteral(subject []byte) bool {
	i := 0
	for ti, tok := range p {
		if i > len(subject) {
			return false
		}
		if tok == ">" {
			return i < len(subject) // at least one token left
		}
		end := i
		for end < len(subject) && subject[end] != '.' {
			end++
		}
		if tok != "*" && tok != string(subject[i:end]) {
			return false
		}
		i = end + 1
		if ti == len(p)-1 {
			return end == len(subject)
		}
	}
	return false
}

// subsetOf reports whether every subject matched by s is matched by p.
func (s pattern) subsetOf(p pattern) bool {
	for i, pt := range p {
		if i >= len(s) {
			return false
		}
		st := s[i]
		switch {
		case pt == ">":
			return true
		case st == ">":
			return false
		case pt == "*":
		case st != pt:
			return false
		}
	}
	return len(s) == len(p)
}

// overlaps reports whether some subject is matched by both a and b.
func (a pattern) overlaps(b pattern) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		switch {
		case x == ">" || y == ">":
			return true
		case x == "*" || y == "*" || x == y:
		default:
			return false
		}
	}
	return len(a) == len(b)
}

func anyMatch(ps []pattern, subject []byte) bool {
	for _, p := range ps {
		if p.matchLiteral(subject) {
			return true
		}
	}
	return false
}

// permSet is a user's permissions, compiled. It is immutable: a reload
// swaps in a new one, which also invalidates each connection's cache.
type permSet struct {
	pubAllow, pubDeny []pattern
	subAllow, subDeny []pattern
	pubAll            bool // no allow list and no allow_responses: all allowed
	resp              *ResponsePermission
}

func newPermSet(p *Permissions) *permSet {
	if p == nil {
		return nil
	}
	ps := &permSet{
		pubAllow: compile(p.Publish.Allow), pubDeny: compile(p.Publish.Deny),
		subAllow: compile(p.Subscribe.Allow), subDeny: compile(p.Subscribe.Deny),
	}
	if r := p.Responses; r != nil {
		rr := *r
		if rr.MaxMsgs == 0 {
			rr.MaxMsgs = 1
		}
		ps.resp = &rr
	}
	ps.pubAll = len(ps.pubAllow) == 0 && ps.resp == nil
	return ps
}

// Publish verdicts kept in a connection's cache.
type pubVerdict uint8

const (
	pubAllowed  pubVerdict = iota + 1
	pubDenied              // on the deny list: never, not even as a response
	pubUnlisted            // not allowed by the lists; may still be a response
)

func (ps *permSet) publishVerdict(subject []byte) pubVerdict {
	if anyMatch(ps.pubDeny, subject) {
		return pubDenied
	}
	if ps.pubAll || anyMatch(ps.pubAllow, subject) {
		return pubAllowed
	}
	return pubUnlisted
}

// subscribeVerdict decides a SUB: ok, and the deny patterns that overlap a
// wildcard subscription without covering it (those messages are filtered
// out at delivery, as nats-server does).
func (ps *permSet) subscribeVerdict(subject string) (ok bool, filter []pattern) {
	s := pattern(strings.Split(subject, "."))
	if len(ps.subAllow) > 0 {
		allowed := false
		for _, a := range ps.subAllow {
			if s.subsetOf(a) {
				allowed = true
				break
			}
		}
		if !allowed {
			return false, nil
		}
	}
	for _, d := range ps.subDeny {
		if s.subsetOf(d) {
			return false, nil
		}
		if d.overlaps(s) {
			filter = append(filter, d)
		}
	}
	return true, filter
}

// pubCacheSize bounds a connection's cache of publish verdicts.
const pubCacheSize = 128

// canPublish checks a PUB against the connection's permissions. A repeated
// subject costs one map lookup and no allocation.
func (c *conn) canPublish(ps *permSet, subject []byte) bool {
	if c.pubCachePerms != ps || c.pubCache == nil {
		if c.pubCache == nil {
			c.pubCache = make(map[string]pubVerdict, 16)
		} else {
			clear(c.pubCache)
		}
		c.pubCachePerms = ps
	}
	v, ok := c.pubCache[string(subject)]
	if !ok {
		v = ps.publishVerdict(subject)
		if len(c.pubCache) >= pubCacheSize {
			for k := range c.pubCache {
				delete(c.pubCache, k)
				break
			}
		}
		c.pubCache[string(subject)] = v
	}
	switch v {
	case pubAllowed:
		return true
	case pubUnlisted:
		return ps.resp != nil && c.replies.take(subject)
	}
	return false
}

// replyPerms tracks the reply subjects a connection with allow_responses
// may publish to: one entry per request delivered to it.
type replyPerms struct {
	mu sync.Mutex
	m  map[string]replyGrant
}

type replyGrant struct {
	left    int
	expires time.Time // zero: never
}

// maxReplyGrants bounds the map for a responder that never answers.
const maxReplyGrants = 64 << 10

func (r *replyPerms) grant(reply []byte, rp *ResponsePermission) {
	var exp time.Time
	if rp.Expires > 0 {
		exp = time.Now().Add(rp.Expires)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]replyGrant)
	}
	if len(r.m) >= maxReplyGrants {
		now := time.Now()
		for k, g := range r.m {
			if !g.expires.IsZero() && now.After(g.expires) {
				delete(r.m, k)
			}
		}
		if len(r.m) >= maxReplyGrants {
			clear(r.m) // the oldest grants are long stale by now
		}
	}
	r.m[string(reply)] = replyGrant{left: rp.MaxMsgs, expires: exp}
}

func (r *replyPerms) take(subject []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.m[string(subject)]
	if !ok {
		return false
	}
	if !g.expires.IsZero() && time.Now().After(g.expires) {
		delete(r.m, string(subject))
		return false
	}
	g.left--
	if g.left <= 0 {
		delete(r.m, string(subject))
	} else {
		r.m[string(subject)] = g
	}
	return true
}

func (r *replyPerms) reset() {
	r.mu.Lock()
	r.m = nil
	r.mu.Unlock()
}

// pubViolation tells the client its PUB was dropped.
func (c *conn) pubViolation(subject []byte) {
	c.srv.log.Debug("publish permission violation", "cid", c.id, "user", c.user, "subject", string(subject))
	c.sendErr(protocol.ErrTextPubViolation(string(subject)))
}
