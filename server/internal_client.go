package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// SubscribeClient is Subscribe in the global account for a handler that
// also learns who published: client returns the JSON of the publishing
// client's info block, with nats-server's fields (host, id, acc, user,
// name, lang, ver, server, cluster, kind, client_type), or nil when the
// message was published in-process or came from another server. client
// reads the connection, so it may be called only during the callback.
// The stream layer uses it for the client block of its advisories.
func (s *Server) SubscribeClient(subject string, fn func(client func() []byte, subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return s.subscribeClientIn(s.global, subject, fn)
}

// SubscribeClient is Server.SubscribeClient in the broker's account.
func (b *AccountBroker) SubscribeClient(subject string, fn func(client func() []byte, subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return b.s.subscribeClientIn(b.acc, subject, fn)
}

func (s *Server) subscribeClientIn(acc *account, subject string, fn func(client func() []byte, subject, reply, hdr, data []byte)) (func(), error) {
	if fn == nil {
		return nil, errors.New("server: SubscribeClient needs a handler")
	}
	sub := &subscription{acc: acc, subject: subject}
	sub.withFrom = func(from *conn, subject, reply, hdr, data []byte) {
		fn(func() []byte { return s.clientInfoJSON(from) }, subject, reply, hdr, data)
	}
	if err := acc.sl.Insert(subject, "", sub); err != nil {
		return nil, fmt.Errorf("server: subscribe %q: %w", subject, err)
	}
	return func() {
		if sub.closed.CompareAndSwap(false, true) {
			_ = acc.sl.Remove(subject, "", sub)
		}
	}, nil
}

// clientInfoJSON is the client info block of a client connection, as the
// system account's events carry it; nil for no connection or a route.
func (s *Server) clientInfoJSON(c *conn) []byte {
	if c == nil || c.peer != nil {
		return nil
	}
	cs := c.snapshot(false)
	b, err := json.Marshal(s.clientInfo(&cs))
	if err != nil {
		return nil
	}
	return b
}

// HasExactInterest reports whether a subscription on exactly subject, not
// through a wildcard, exists in the global account. A stream snapshot
// waits for one: a client's request inbox wildcard matches the deliver
// subject long before the client subscribes to it.
func (s *Server) HasExactInterest(subject string) bool { return exactInterest(s.global, subject) }

// HasExactInterest is Server.HasExactInterest in the broker's account.
func (b *AccountBroker) HasExactInterest(subject string) bool { return exactInterest(b.acc, subject) }

func exactInterest(acc *account, subject string) bool {
	r := acc.sl.Match([]byte(subject))
	for _, sub := range r.Plain {
		if sub.subject == subject {
			return true
		}
	}
	for _, g := range r.Groups {
		for _, sub := range g.Members {
			if sub.subject == subject {
				return true
			}
		}
	}
	return false
}

// SubscribeRouted is Subscribe for an in-process subscription whose
// interest goes to every route, so that messages published on other
// servers reach it too. A replicated stream's leader captures its
// subjects with it, and the stream layer takes requests forwarded from
// other servers with it.
func (s *Server) SubscribeRouted(subject string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return s.subscribeRoutedIn(s.global, subject, fn)
}

// SubscribeRouted is Server.SubscribeRouted in the broker's account.
func (b *AccountBroker) SubscribeRouted(subject string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return b.s.subscribeRoutedIn(b.acc, subject, fn)
}

func (s *Server) subscribeRoutedIn(acc *account, subject string, fn func(subject, reply, hdr, data []byte)) (func(), error) {
	if fn == nil {
		return nil, errors.New("server: SubscribeRouted needs a handler")
	}
	sub := &subscription{fn: fn, acc: acc, subject: subject, routable: true}
	if err := acc.sl.Insert(subject, "", sub); err != nil {
		return nil, fmt.Errorf("server: subscribe %q: %w", subject, err)
	}
	// Before Start there is no cluster to tell yet: startCluster counts the
	// subscription then. Deciding under mu (with the cancel's, below) makes
	// every subscription counted once and withdrawn once.
	s.mu.Lock()
	cl := s.cl
	if cl == nil {
		s.earlyRouted = append(s.earlyRouted, sub)
	}
	s.mu.Unlock()
	if cl != nil {
		cl.subAdded(sub)
	}
	return func() {
		s.mu.Lock()
		if !sub.closed.CompareAndSwap(false, true) {
			s.mu.Unlock()
			return
		}
		cl := s.cl
		if cl == nil {
			s.earlyRouted = slices.DeleteFunc(s.earlyRouted, func(x *subscription) bool { return x == sub })
		}
		s.mu.Unlock()
		_ = acc.sl.Remove(subject, "", sub)
		if cl != nil {
			cl.subRemoved(sub)
		}
	}, nil
}
