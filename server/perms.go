package server

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wisp-mq/wisp/protocol"
	"github.com/wisp-mq/wisp/sublist"
)

// Permissions limit what one user may publish and subscribe to, as in
// nats-server. Each list holds subjects with wildcards. An empty Allow list
// allows everything; Deny wins over Allow.
//
// A subscribe entry may name a queue group after a space, "orders.> workers"
// or "orders.> *.dev": the queue part is a pattern matched like a subject
// against the group's name, and the entry applies to queue subscriptions
// whose group it matches. In Subscribe.Allow such an entry allows those
// queue subscriptions, and once one covers a subject, a queue subscription
// to it is allowed only in a group one of them matches (plain entries no
// longer count for it); a plain subscription is never allowed by a queue
// entry. In Subscribe.Deny it denies those queue subscriptions only.
// Publish entries take no queue part.
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

// validate names every bad entry in p, as the permissions of user.
func (p *Permissions) validate(user string, bad func(name, format string, args ...any)) {
	p.check(func(format string, args ...any) {
		bad("permissions", "user %q: "+format, append([]any{user}, args...)...)
	})
}

// check reports every bad entry in p through bad, naming the list.
func (p *Permissions) check(bad func(format string, args ...any)) {
	for _, l := range []struct {
		name string
		subs []string
	}{{"publish.allow", p.Publish.Allow}, {"publish.deny", p.Publish.Deny}} {
		for _, s := range l.subs {
			switch {
			case len(strings.Fields(s)) == 2:
				bad("%s: %q: publish permissions take no queue group", l.name, s)
			case !sublist.ValidSubscribeSubject(s):
				bad("%s: %q is not a valid subject", l.name, s)
			}
		}
	}
	for _, l := range []struct {
		name string
		subs []string
	}{{"subscribe.allow", p.Subscribe.Allow}, {"subscribe.deny", p.Subscribe.Deny}} {
		for _, s := range l.subs {
			subject, queue, n := splitQueueEntry(s)
			switch {
			case n > 2:
				bad("%s: %q: expected a subject and at most one queue group", l.name, s)
			case !sublist.ValidSubscribeSubject(subject):
				bad("%s: %q is not a valid subject", l.name, s)
			case n == 2 && !sublist.ValidSubscribeSubject(queue):
				bad("%s: %q: queue group %q is not a valid pattern", l.name, s, queue)
			}
		}
	}
	if r := p.Responses; r != nil && (r.MaxMsgs < 0 || r.Expires < 0) {
		bad("allow_responses: max and expires must not be negative")
	}
}

// splitQueueEntry splits a subscribe entry into its subject and optional
// queue pattern, separated by white space as in nats-server; n is the
// number of fields found.
func splitQueueEntry(entry string) (subject, queue string, n int) {
	f := strings.Fields(entry)
	switch len(f) {
	case 0:
		return entry, "", 1 // blank: invalid as a subject
	case 1:
		return f[0], "", 1
	}
	return f[0], f[1], len(f)
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

// queueEntry is a subscribe entry limited to queue groups ("subject queue").
type queueEntry struct {
	subject pattern
	queue   pattern
	raw     string // the queue pattern as written
	wild    bool   // raw has a * or > token
}

// matchQueue reports whether a queue group's name matches e's pattern: the
// same name, or (as in nats-server) a name inside the pattern's wildcards.
func (e *queueEntry) matchQueue(group string) bool {
	if group == e.raw {
		return true
	}
	return e.wild && pattern(strings.Split(group, ".")).subsetOf(e.queue)
}

// compileSubscribe splits a subscribe list into its plain and queue entries.
func compileSubscribe(entries []string) (plain []pattern, queued []queueEntry) {
	plain = make([]pattern, 0, len(entries))
	for _, e := range entries {
		subject, queue, _ := splitQueueEntry(e)
		if queue == "" {
			plain = append(plain, strings.Split(subject, "."))
			continue
		}
		q := pattern(strings.Split(queue, "."))
		wild := false
		for _, t := range q {
			wild = wild || t == "*" || t == ">"
		}
		queued = append(queued, queueEntry{subject: strings.Split(subject, "."), queue: q, raw: queue, wild: wild})
	}
	return plain, queued
}

// permSet is a user's permissions, compiled. It is immutable: a reload
// swaps in a new one, which also invalidates each connection's cache.
type permSet struct {
	pubAllow, pubDeny []pattern
	subAllow, subDeny []pattern    // plain subscribe entries
	subAllowQ         []queueEntry // subscribe entries with a queue group
	subDenyQ          []queueEntry
	subAll            bool // no subscribe allow entry of either kind
	pubAll            bool // no allow list and no allow_responses: all allowed
	resp              *ResponsePermission
}

func newPermSet(p *Permissions) *permSet {
	if p == nil {
		return nil
	}
	ps := &permSet{pubAllow: compile(p.Publish.Allow), pubDeny: compile(p.Publish.Deny)}
	ps.subAllow, ps.subAllowQ = compileSubscribe(p.Subscribe.Allow)
	ps.subDeny, ps.subDenyQ = compileSubscribe(p.Subscribe.Deny)
	ps.subAll = len(ps.subAllow) == 0 && len(ps.subAllowQ) == 0
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

// subscribeVerdict decides a SUB to subject in queue group queue ("" for a
// plain subscription): ok, and the deny patterns that overlap a wildcard
// subscription without covering it (those messages are filtered out at
// delivery, as nats-server does).
func (ps *permSet) subscribeVerdict(subject, queue string) (ok bool, filter []pattern) {
	s := pattern(strings.Split(subject, "."))
	if !ps.subAll && !ps.subscribeAllowed(s, queue) {
		return false, nil
	}
	deny := func(d pattern) bool {
		if s.subsetOf(d) {
			return true
		}
		if d.overlaps(s) {
			filter = append(filter, d)
		}
		return false
	}
	for _, d := range ps.subDeny {
		if deny(d) {
			return false, nil
		}
	}
	if queue != "" {
		for i := range ps.subDenyQ {
			if d := &ps.subDenyQ[i]; d.matchQueue(queue) && deny(d.subject) {
				return false, nil
			}
		}
	}
	return true, filter
}

// subscribeAllowed applies the allow list to a subscription to s. A queue
// subscription to a subject covered by queue entries is allowed only when
// one of them matches its group; otherwise the plain entries decide.
func (ps *permSet) subscribeAllowed(s pattern, queue string) bool {
	if queue != "" {
		restricted := false
		for i := range ps.subAllowQ {
			a := &ps.subAllowQ[i]
			if !s.subsetOf(a.subject) {
				continue
			}
			if a.matchQueue(queue) {
				return true
			}
			restricted = true
		}
		if restricted {
			return false
		}
	}
	for _, a := range ps.subAllow {
		if s.subsetOf(a) {
			return true
		}
	}
	return false
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

// subViolation tells the client its SUB was refused.
func (c *conn) subViolation(subject, queue string) {
	c.srv.log.Debug("subscribe permission violation", "cid", c.id, "user", c.user, "subject", subject, "queue", queue)
	c.sendErr(subViolationText(subject, queue))
}

// subViolationText is nats-server's -ERR text for a refused subscription,
// which names the group of a queue subscription.
func subViolationText(subject, queue string) string {
	if queue == "" {
		return protocol.ErrTextSubViolation(subject)
	}
	return protocol.ErrTextSubViolation(subject) + ` using queue "` + queue + `"`
}

// pubViolation tells the client its PUB was dropped.
func (c *conn) pubViolation(subject []byte) {
	c.srv.log.Debug("publish permission violation", "cid", c.id, "user", c.user, "subject", string(subject))
	c.sendErr(protocol.ErrTextPubViolation(string(subject)))
}

// validateDefaultPermissions checks Options.DefaultPermissions: each names
// an account that exists and has users for it to apply to, and each is
// valid. The global account's are reported as "default_permissions",
// another account's as "accounts.NAME.default_permissions".
func validateDefaultPermissions(o *Options, bad func(name, format string, args ...any)) {
	users := map[string]int{GlobalAccount: len(o.Users)}
	if o.Username != "" {
		users[GlobalAccount]++
	}
	for _, ac := range o.Accounts {
		users[ac.Name] += len(ac.Users)
	}
	names := make([]string, 0, len(o.DefaultPermissions))
	for name := range o.DefaultPermissions {
		names = append(names, name)
	}
	slices.Sort(names) // the same errors in the same order every time
	for _, name := range names {
		p := o.DefaultPermissions[name]
		key := "accounts." + name + ".default_permissions"
		if name == GlobalAccount {
			key = "default_permissions"
		}
		n, known := users[name]
		switch {
		case !known:
			bad("default_permissions", "account %q is not configured", name)
			continue
		case p == nil:
			continue
		case n == 0:
			// Connections without a user (a token, no auth) get no
			// permissions; saying nothing would suggest they do.
			bad(key, "there are no users for them to apply to")
		}
		p.check(func(format string, args ...any) { bad(key, format, args...) })
	}
}

// defaultPermSets compiles Options.DefaultPermissions by account name.
func defaultPermSets(o *Options) map[string]*permSet {
	if len(o.DefaultPermissions) == 0 {
		return nil
	}
	out := make(map[string]*permSet, len(o.DefaultPermissions))
	for name, p := range o.DefaultPermissions {
		out[name] = newPermSet(p)
	}
	return out
}
