package server

import "github.com/wisp-mq/wisp/protocol"

// Accounts that a configuration reload adds or removes, while routes stay
// up. Servers reload one at a time, so for a while one of them has an
// account another lacks. Two things would otherwise go missing until the
// routes reconnect:
//
//   - the reloading server's interest in responses to the service requests
//     it routes out of the new account ("_R_.<tag>.>"), which a route is
//     told only when it registers: accountsAdded sends it;
//   - a peer's interest in an account this server does not have yet: a
//     route holds its RS+ (and honours its RS-) until a reload adds the
//     account, then applies it (applyHeld).
//
// Subscriptions made in a new account need nothing: they travel as RS+
// deltas like any other.
//
// An account a reload removes takes the peers' interest in it out of its
// subject index, and the routes hold that interest as for an account they
// never had (accountsRemoved): a later reload that adds an account of that
// name (a new one, with an empty index) then applies it, and until then
// nothing is forwarded for it.

// Bounds on what a route holds for accounts this server does not have, so
// that a peer naming endless accounts or subjects cannot grow it without
// end. Past them an RS+ is dropped (and logged once per route).
const (
	maxHeldAccounts = 64
	maxHeldSubjects = 8192
)

// accountsAdded tells every route about the accounts a reload added, and
// applies what each route held for them. Called after install.
func (cl *cluster) accountsAdded(added []*account) {
	if len(added) == 0 {
		return
	}
	resp := []byte(cl.s.respSubjectPrefix() + ">")
	cl.mu.Lock()
	for _, acc := range added {
		cl.broadcast(func(b []byte) []byte {
			return protocol.AppendRSub(b, acc.nameBytes, resp, nil, 0)
		})
	}
	routes := make([]*route, 0, len(cl.conns))
	for r := range cl.conns {
		routes = append(routes, r)
	}
	cl.mu.Unlock()
	for _, r := range routes {
		r.applyHeld()
	}
}

// accountsRemoved withdraws this server's interest in responses in the
// accounts a reload removed (announced like accountsAdded's), and moves
// every route's interest in accounts that are no longer the server's into
// what the route holds. Called after install, before accountsAdded.
func (cl *cluster) accountsRemoved(removed []*account) {
	resp := []byte(cl.s.respSubjectPrefix() + ">")
	cl.mu.Lock()
	for _, acc := range removed {
		cl.broadcast(func(b []byte) []byte {
			return protocol.AppendRUnsub(b, acc.nameBytes, resp, nil)
		})
	}
	routes := make([]*route, 0, len(cl.conns))
	for r := range cl.conns {
		routes = append(routes, r)
	}
	cl.mu.Unlock()
	for _, r := range routes {
		r.holdRemoved()
	}
}

// holdRemoved moves the peer's interest in accounts no longer current
// from their sublists to held. The reader, adding interest under the same
// lock, already sees the new account set (install bumped accountsGen
// before this runs), so nothing lands in a removed account after it.
func (r *route) holdRemoved() {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	current := map[string]*account{}
	for k, subs := range r.interest {
		acc, ok := current[k.account]
		if !ok {
			acc = r.cl.s.lookupAccount(k.account)
			current[k.account] = acc
		}
		if len(subs) == 0 || subs[0].acc == acc {
			continue
		}
		for _, sub := range subs {
			sub.closed.Store(true)
			_ = sub.acc.sl.Remove(sub.subject, sub.queue, sub)
		}
		delete(r.interest, k)
		var weight int64
		if k.queue != "" {
			weight = int64(len(subs))
		}
		r.hold(k.account, interestKey{subject: k.subject, queue: k.queue}, weight)
	}
	r.numSubs.Store(int32(len(r.interest)))
}

// hold keeps an RS+ for an account this server does not have. Called with
// interestMu held.
func (r *route) hold(account string, k interestKey, weight int64) {
	m := r.held[account]
	_, known := m[k]
	if m == nil && len(r.held) >= maxHeldAccounts || !known && r.heldSubs >= maxHeldSubjects {
		if !r.heldCapped {
			r.heldCapped = true
			r.cl.s.log.Warn("route names too many unknown accounts or subjects; dropping their interest",
				"server", r.remoteName(), "max_accounts", maxHeldAccounts, "max_subjects", maxHeldSubjects)
		}
		return
	}
	if r.held == nil {
		r.held = make(map[string]map[interestKey]int64)
	}
	if m == nil {
		m = make(map[interestKey]int64)
		r.held[account] = m
	}
	if !known {
		r.heldSubs++
	}
	m[k] = weight
}

// unhold forgets a held RS+ on the peer's RS-. Called with interestMu held.
func (r *route) unhold(account string, k interestKey) {
	m := r.held[account]
	if _, ok := m[k]; !ok {
		return
	}
	delete(m, k)
	r.heldSubs--
	if len(m) == 0 {
		delete(r.held, account)
	}
}

// applyHeld turns held interest into subscriptions for the accounts that
// now exist. The route's reader may be adding interest at the same time:
// both hold interestMu, and the reader, once it sees the reload's account
// generation, looks the account up again instead of holding (route.account).
func (r *route) applyHeld() {
	r.interestMu.Lock()
	defer r.interestMu.Unlock()
	for name, m := range r.held {
		acc := r.cl.s.lookupAccount(name)
		if acc == nil {
			continue
		}
		for k, weight := range m {
			r.setInterest(acc, k.subject, k.queue, weight)
		}
		r.heldSubs -= len(m)
		delete(r.held, name)
	}
}
