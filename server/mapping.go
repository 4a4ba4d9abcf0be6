package server

import (
	"fmt"

	"github.com/wisp-mq/wisp/subjectmap"
)

// Subject mappings rewrite the subject of a message a client publishes,
// before permissions are checked and before it is matched against
// subscriptions, streams and routes: the same message path, on another
// subject. They are per account (Options.Mappings for the global account,
// AccountConfig.Mappings for the others), as nats-server's mappings blocks.
//
// A message is mapped once, by the server its publisher is connected to:
// a message from a route already carries the mapped subject, and messages
// published in-process (the stream layer's, the system account's) are not
// mapped, as nats-server leaves its internal clients' messages alone.
// Weighted destinations are drawn per message on that server, so a canary
// share holds across the cluster whichever server a client is on.

// validateMappings refuses a mapping table that cannot be built, naming
// the account.
func validateMappings(o *Options, bad func(name, format string, args ...any)) {
	if _, err := subjectmap.NewTable(o.Mappings, o.Cluster.Name); err != nil {
		bad("mappings", "%v", err)
	}
	for _, ac := range o.Accounts {
		if _, err := subjectmap.NewTable(ac.Mappings, o.Cluster.Name); err != nil {
			bad("accounts."+ac.Name+".mappings", "%v", err)
		}
	}
}

// installMappings gives each account its table (nil when it has none).
// Options were validated, so building cannot fail here.
func (s *Server) installMappings(set *accountSet, o *Options) error {
	byName := map[string][]subjectmap.Mapping{GlobalAccount: o.Mappings}
	for _, ac := range o.Accounts {
		byName[ac.Name] = ac.Mappings
	}
	for name, a := range set.byName {
		ms := byName[name]
		if len(ms) == 0 {
			a.mappings.Store(nil)
			continue
		}
		t, err := subjectmap.NewTable(ms, o.Cluster.Name)
		if err != nil {
			return fmt.Errorf("account %q: %w", name, err)
		}
		a.mappings.Store(t)
	}
	return nil
}

// mapSubject applies the account's mappings to a subject a client
// published on. It returns the subject to route the message on (the
// connection's scratch buffer when mapped, valid until its next publish)
// and false when the mapping's weights drop the message.
func (c *conn) mapSubject(subject []byte) ([]byte, bool) {
	t := c.acc.mappings.Load()
	if t == nil {
		return subject, true
	}
	out, outcome := t.Map(c.mapBuf[:0], subject)
	switch outcome {
	case subjectmap.Mapped:
		c.mapBuf = out
		if c.srv.o().Trace {
			c.srv.log.Debug("subject mapped", "cid", c.id, "from", string(subject), "to", string(out))
		}
		return out, true
	case subjectmap.Dropped:
		return nil, false
	}
	return subject, true
}

// mapImported applies the exporting account's mappings to a request
// crossing a service import into it, as nats-server does; false when the
// mapping drops it. Only a mapped request allocates.
func (a *account) mapImported(m *message) bool {
	t := a.mappings.Load()
	if t == nil {
		return true
	}
	out, outcome := t.Map(nil, m.subject)
	switch outcome {
	case subjectmap.Mapped:
		m.subject = out
	case subjectmap.Dropped:
		return false
	}
	return true
}
