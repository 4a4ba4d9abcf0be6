package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/sublist"
)

// The system account holds the operator's plane: the $SYS subjects on
// which every server answers requests about itself (system_requests.go) and
// publishes events (system_events.go), in nats-server's subjects and JSON
// shapes so that natscli's "nats server ..." commands work unchanged.
//
// It is the account system_account names (users connect to it as to any
// other), or else a built-in "$SYS" account that no user can log into
// (account names starting with $ are reserved), so that only in-process
// users reach it. Accounts are isolated, so a user of any other account
// who subscribes to $SYS.> or publishes a $SYS request reaches nothing:
// no check is needed on the message path. The exceptions are the few
// requests that every account answers about itself (accountResponders),
// as nats-server does.
//
// Its internal subscriptions are the only ones whose interest travels over
// routes (subscription.routable): a request published on one server reaches the
// responders of every server, and each answers.

// DefaultSystemAccount is the name of the built-in system account.
const DefaultSystemAccount = "$SYS"

// validateSystemAccount checks that system_account names a configured
// account.
func validateSystemAccount(o *Options, bad func(name, format string, args ...any)) {
	if o.SystemAccount == "" {
		return
	}
	for _, ac := range o.Accounts {
		if ac.Name == o.SystemAccount {
			return
		}
	}
	bad("system_account", "%q is not a configured account (add it under accounts)", o.SystemAccount)
}

// sysHandler serves a request or message on a system subscription. from
// is the publishing connection (nil in-process, a route's for a message
// from another server); the slices live only during the call.
type sysHandler func(from *conn, subject, reply, data []byte)

// sysPlane is the running state of the system account's services.
type sysPlane struct {
	acc  *account
	seq  atomic.Uint64 // of every message this server sends in $SYS
	stop chan struct{}
	done sync.WaitGroup
	subs []*subscription
	// busy bounds the requests being answered at once (sysGo).
	busy chan struct{}
	// accSubs holds the responders every account has, by account
	// (accountResponders).
	accMu   sync.Mutex
	accSubs map[*account][]*subscription
}

// sysAccount returns the system account.
func (s *Server) sysAccount() *account { return s.sysAcc }

// setupSystemAccount picks the system account for options o once the
// accounts are built: the configured one, or the built-in one.
func (s *Server) setupSystemAccount(set *accountSet, o *Options) {
	if o.SystemAccount != "" {
		s.sysAcc = set.byName[o.SystemAccount]
		return
	}
	s.sysAcc = newAccount(s, DefaultSystemAccount)
}

// subscribeSystem adds an internal subscription to acc on subject. With
// routable, its interest goes to every route and messages from other
// servers reach it.
func (s *Server) subscribeSystem(acc *account, subject string, routable bool, h sysHandler) (*subscription, error) {
	sub := &subscription{acc: acc, subject: subject, sys: h, routable: routable}
	if err := acc.sl.Insert(subject, "", sub); err != nil {
		return nil, fmt.Errorf("server: system subscription %q: %w", subject, err)
	}
	if routable && s.cl != nil {
		s.cl.subAdded(sub)
	}
	return sub, nil
}

func (s *Server) unsubscribeSystem(sub *subscription) {
	if !sub.closed.CompareAndSwap(false, true) {
		return
	}
	_ = sub.acc.sl.Remove(sub.subject, "", sub)
	if sub.routable && s.cl != nil {
		s.cl.subRemoved(sub)
	}
}

// startSystem subscribes the system account's responders and starts the
// periodic events. Called once, by Start, after the cluster is up.
func (s *Server) startSystem() error {
	p := &sysPlane{
		acc: s.sysAcc, stop: make(chan struct{}), busy: make(chan struct{}, maxSysRequests),
		accSubs: map[*account][]*subscription{},
	}
	s.sysp.Store(p)
	for subject, h := range s.sysResponders() {
		sub, err := s.subscribeSystem(p.acc, subject, true, h)
		if err != nil {
			return err
		}
		p.subs = append(p.subs, sub)
	}
	// Answered by the requester's server only (system_meta.go).
	sub, err := s.subscribeSystem(p.acc, subjMetaStepDown, false, s.serveMetaStepDown)
	if err != nil {
		return err
	}
	p.subs = append(p.subs, sub)
	if sub, err = s.subscribeSystem(p.acc, subjServerRemove, false, s.serveServerRemove); err != nil {
		return err
	}
	p.subs = append(p.subs, sub)
	if s.opts.JetStream {
		// Answered by the requester's server only (system_jsapi.go).
		if sub, err = s.subscribeSystem(p.acc, subjJSAPIAll, false, s.serveSystemJSAPI); err != nil {
			return err
		}
		p.subs = append(p.subs, sub)
	}
	s.syncAccountResponders()
	p.done.Add(1)
	go s.statszLoop(p)
	return nil
}

// maxSysRequests is how many $SYS requests are answered at once; past it,
// requests are dropped (their senders time out), so that a flood of them,
// which any account may send for its own figures, cannot pile up
// goroutines.
const maxSysRequests = 64

// sysGo answers a request on a goroutine of its own, never on the
// publisher's reader (a report takes locks and may take time), unless too
// many are in progress.
func (s *Server) sysGo(fn func()) {
	p := s.sysp.Load()
	select {
	case p.busy <- struct{}{}:
		go func() {
			defer func() { <-p.busy }()
			fn()
		}()
	default:
		s.log.Debug("system account: too many requests in progress, one dropped")
	}
}

// stopSystem sends the shutdown event and stops the periodic events.
func (s *Server) stopSystem() {
	p := s.sysp.Load()
	if p == nil {
		return
	}
	select {
	case <-p.stop:
		return
	default:
	}
	s.sendShutdownEvent()
	close(p.stop)
	p.done.Wait()
}

// sysSubCount counts the system plane's subscriptions in the accounts
// NumSubscriptions adds up (the built-in system account is not one).
func (s *Server) sysSubCount() int {
	p := s.sysp.Load()
	if p == nil {
		return 0
	}
	n := 0
	if s.sysAcc.name != DefaultSystemAccount {
		n += len(p.subs)
	}
	p.accMu.Lock()
	for a, subs := range p.accSubs {
		if a.name != DefaultSystemAccount {
			n += len(subs)
		}
	}
	p.accMu.Unlock()
	return n
}

// accountSubCount counts a's subscriptions as users see them: without
// those of imports and of the system plane.
func (s *Server) accountSubCount(a *account) int {
	n := a.sl.Count()
	s.mu.Lock()
	n -= countIn(s.importSubs, a)
	s.mu.Unlock()
	if p := s.sysp.Load(); p != nil {
		if a == s.sysAcc {
			n -= len(p.subs)
		}
		p.accMu.Lock()
		n -= len(p.accSubs[a])
		p.accMu.Unlock()
	}
	return max(n, 0)
}

// syncAccountResponders gives every account, and only the current ones,
// the responders each account has (accountResponders). Called at start
// and after a reload.
func (s *Server) syncAccountResponders() {
	p := s.sysp.Load()
	if p == nil {
		return
	}
	accs := s.allAccounts()
	p.accMu.Lock()
	defer p.accMu.Unlock()
	keep := map[*account]bool{}
	for _, a := range accs {
		keep[a] = true
		if p.accSubs[a] != nil {
			continue
		}
		subs := []*subscription{}
		for _, r := range s.accountResponders(a) {
			sub, err := s.subscribeSystem(a, r.subject, r.routable, r.h)
			if err != nil {
				s.log.Error("system account", "err", err)
				continue
			}
			subs = append(subs, sub)
		}
		p.accSubs[a] = subs
	}
	for a, subs := range p.accSubs {
		if !keep[a] {
			for _, sub := range subs {
				s.unsubscribeSystem(sub)
			}
			delete(p.accSubs, a)
		}
	}
}

// ServerInfo identifies the sending server in every $SYS message, with
// nats-server's field names.
type ServerInfo struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster,omitempty"`
	Version   string    `json:"ver"`
	JetStream bool      `json:"jetstream"`
	Flags     uint64    `json:"flags"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
}

// capJetStream is nats-server's capability flag for JetStream on. Its other
// flags (binary stream snapshots, account NRG) name features Wisp lacks.
const capJetStream = 1 << 0

func (s *Server) serverInfo() ServerInfo {
	o := s.o()
	si := ServerInfo{
		Name: s.name, Host: o.Host, ID: s.id, Cluster: o.Cluster.Name,
		Version: NATSVersion, JetStream: o.JetStream, Time: time.Now().UTC(),
	}
	if p := s.sysp.Load(); p != nil {
		si.Seq = p.seq.Add(1)
	}
	if o.JetStream {
		si.Flags |= capJetStream
	}
	return si
}

// sysResponse is the envelope of every answer to a $SYS request.
type sysResponse struct {
	Server ServerInfo `json:"server"`
	Data   any        `json:"data,omitempty"`
	Error  *sysError  `json:"error,omitempty"`
}

// sysError is nats-server's error body in a $SYS answer.
type sysError struct {
	Code        int    `json:"code"`
	Description string `json:"description,omitempty"`
}

// sysSend publishes v as JSON in the system account, unless nobody there
// listens on subject (so events cost nothing while nobody watches).
func (s *Server) sysSend(subject, reply string, v any) {
	acc := s.sysAcc
	if acc == nil || !hasInterest(acc.sl, subject) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("system account: encoding a message", "subject", subject, "err", err)
		return
	}
	if err := s.publishIn(acc, subject, reply, nil, b); err != nil {
		s.log.Debug("system account: publish", "subject", subject, "err", err)
	}
}

// sysReply answers a request in account acc (the system account, or the
// requester's for USER.INFO).
func (s *Server) sysReply(acc *account, reply string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("system account: encoding a response", "err", err)
		return
	}
	if err := s.publishIn(acc, reply, "", nil, b); err != nil {
		s.log.Debug("system account: reply", "subject", reply, "err", err)
	}
}

func hasInterest(sl *sublist.Sublist[*subscription], subject string) bool {
	r := sl.Match([]byte(subject))
	return len(r.Plain) > 0 || len(r.Groups) > 0
}

// sysToken returns token i (from 0) of a subject.
func sysToken(subject string, i int) string {
	toks := strings.Split(subject, ".")
	if i < len(toks) {
		return toks[i]
	}
	return ""
}
