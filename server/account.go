package server

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nuid"

	"github.com/wisp-mq/wisp/subjectmap"
	"github.com/wisp-mq/wisp/sublist"
)

// Accounts are isolated subject spaces, like nats-server's (and RabbitMQ's
// virtual hosts): each has its own users and its own sublist, so a message
// published in one account reaches subscribers in that account only,
// unless one account exports a subject and another imports it.
//
//   - A stream export/import copies messages published in the exporting
//     account on the subject into the importing account, optionally under
//     a prefix ("prefix.subject").
//   - A service export/import lets clients of the importing account send
//     requests to responders in the exporting account; the request's reply
//     subject is replaced by a one-off "_R_.<id>" subject in the exporter,
//     and a response published there is carried back to the requester's
//     reply subject in its own account: the first one, or every one within
//     the response threshold when the export's response type is stream or
//     chunked.
//
// Imports are implemented as internal subscriptions in the sublist of the
// account the messages come from, so an account without imports pays
// nothing, and a message crosses at most one import (no chains, no loops).
//
// Users not in any account (authorization.users, --user, --auth, or no
// auth at all) belong to the global account, named "$G" as in nats-server.
// In-process users (Server.Publish/Subscribe, the stream layer) work in
// the global account; Server.Account gives the same interface for another.

// GlobalAccount is the name of the account of users not in any account.
const GlobalAccount = "$G"

// AccountConfig is one named account.
type AccountConfig struct {
	Name           string
	Users          []User
	MaxConnections int // 0 = no limit beyond the server's
	Exports        []Export
	Imports        []Import
	// Mappings rewrite the subjects the account's clients publish on
	// (mapping.go).
	Mappings []subjectmap.Mapping
}

// Export makes a subject (wildcards allowed) of this account importable.
// Exactly one of Stream and Service is set. Accounts, when not empty, lists
// the accounts allowed to import it; otherwise any may.
type Export struct {
	Stream   string
	Service  string
	Accounts []string
	// ResponseType says how many responses one request through a service
	// import may get back, as nats-server's response_type: "singleton"
	// (the default: the first response, then the route is gone), "stream"
	// or "chunked" (any number, until ResponseThreshold has passed).
	ResponseType string
	// ResponseThreshold is how long after the request its responses are
	// carried back; default 2 minutes.
	ResponseThreshold time.Duration
}

// Service response types.
const (
	ResponseSingleton = "singleton"
	ResponseStream    = "stream"
	ResponseChunked   = "chunked"
)

// Import brings another account's export into this one. Exactly one of
// Stream and Service is set.
type Import struct {
	Stream  *ImportSource
	Service *ImportSource
	// Prefix (streams only) puts imported messages under "prefix.subject".
	Prefix string
	// To (services only) is the subject this account's clients send
	// requests to; default the exported subject. With a wildcard subject,
	// To must be left empty.
	To string
}

// ImportSource names the exporting account and the subject imported.
type ImportSource struct {
	Account string
	Subject string
}

// account is the runtime side of an account.
type account struct {
	srv       *Server
	name      string
	nameBytes []byte // name, for encoding RMSG without a conversion
	sl        *sublist.Sublist[*subscription]

	nconns atomic.Int64 // connections authenticated into this account
	// mappings rewrite published subjects (mapping.go); nil when the
	// account has none, which costs a publish one atomic load.
	mappings atomic.Pointer[subjectmap.Table]
	maxConns atomic.Int64 // 0 = no limit

	// Pending responses to service requests routed into this account.
	respMu sync.Mutex
	resp   map[string]*respRoute
	nresp  atomic.Int32
}

func newAccount(s *Server, name string) *account {
	return &account{srv: s, name: name, nameBytes: []byte(name), sl: sublist.New[*subscription](0)}
}

// lookupAccount returns the account of that name, or nil.
func (s *Server) lookupAccount(name string) *account {
	if name == GlobalAccount {
		return s.global
	}
	if sys := s.sysAcc; sys != nil && name == sys.name {
		return sys
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[name]
}

// streamImport is carried by an internal subscription in the exporter's
// sublist: matching messages are routed on into the importing account.
type streamImport struct {
	to     *account
	prefix string // "" or "prefix."
}

// serviceImport is carried by an internal subscription in the importer's
// sublist on the local subject: requests are routed into the exporter.
type serviceImport struct {
	from    *account
	subject string // subject in the exporting account
	literal bool   // subject has no wildcard: requests all go there
	// remap, for a wildcard import renamed by its "to" (a JetStream API
	// imported under a prefix of its own, "$JS.API.>" as
	// "$JS.orders.API.>"), rewrites the local subject into the exporter's.
	remap *subjectmap.Transform
	multi bool          // the export's response type allows many responses
	ttl   time.Duration // the export's response threshold
}

// respRoute carries a response from the exporter back to the requester.
type respRoute struct {
	to      *account
	reply   string
	expires time.Time
	multi   bool // stays for further responses until it expires
}

// Service responses must arrive within this time unless the export says
// otherwise, as with nats-server's default response threshold.
const responseTTL = 2 * time.Minute

// respPrefix starts the one-off reply subjects of service requests.
const respPrefix = "_R_."

// maxPendingResponses bounds the table of one account; past it the expired
// entries are dropped, then everything.
const maxPendingResponses = 64 << 10

// respSubjectPrefix is "_R_.<tag>." with a tag of this server's id: in a
// cluster, a response published on another server is routed back here by
// the interest every server announces in its own "_R_.<tag>.>" (see
// sendAllInterest), and mapped to the requester by this server's table.
func (s *Server) respSubjectPrefix() string {
	return respPrefix + s.id[:respTagLen] + "."
}

// respTagLen is how much of the server id tags its response subjects.
const respTagLen = 10

// addResponse registers a one-off reply subject in a, good for ttl (and
// for one response unless multi), and returns it.
func (a *account) addResponse(to *account, reply []byte, ttl time.Duration, multi bool) string {
	subj := a.srv.respSubjectPrefix() + nuid.Next()
	now := time.Now()
	a.respMu.Lock()
	if a.resp == nil {
		a.resp = make(map[string]*respRoute)
	}
	if len(a.resp) >= maxPendingResponses {
		for k, r := range a.resp {
			if now.After(r.expires) {
				delete(a.resp, k)
			}
		}
		if len(a.resp) >= maxPendingResponses {
			clear(a.resp)
		}
	}
	a.resp[subj] = &respRoute{to: to, reply: string(reply), expires: now.Add(ttl), multi: multi}
	a.nresp.Store(int32(len(a.resp)))
	a.respMu.Unlock()
	return subj
}

// takeResponse returns the route for a response subject, forgetting it
// once used (singleton) or expired.
func (a *account) takeResponse(subject []byte) *respRoute {
	a.respMu.Lock()
	defer a.respMu.Unlock()
	r, ok := a.resp[string(subject)]
	if !ok {
		return nil
	}
	expired := time.Now().After(r.expires)
	if !r.multi || expired {
		delete(a.resp, string(subject))
		a.nresp.Store(int32(len(a.resp)))
	}
	if expired {
		return nil
	}
	return r
}

func (a *account) dropResponse(subject string) {
	a.respMu.Lock()
	delete(a.resp, subject)
	a.nresp.Store(int32(len(a.resp)))
	a.respMu.Unlock()
}

// isResponse is the cheap test done for every publish: could this subject
// be the one-off reply subject of a service request?
func (a *account) isResponse(subject []byte) bool {
	return a.nresp.Load() > 0 && len(subject) > len(respPrefix) && string(subject[:len(respPrefix)]) == respPrefix
}

// tryAcquire counts a new connection into the account, unless full.
func (a *account) tryAcquire() bool {
	for {
		n := a.nconns.Load()
		if max := a.maxConns.Load(); max > 0 && n >= max {
			return false
		}
		if a.nconns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// routeResponse carries a message published on a one-off response subject
// back to the requester's account.
func (s *Server) routeResponse(from *conn, a *account, m *message) {
	r := a.takeResponse(m.subject)
	if r == nil {
		return
	}
	m2 := *m
	m2.subject = []byte(r.reply)
	m2.hops = 1
	s.fanOut(from, r.to.sl.Match(m2.subject), &m2)
}

// deliverImport handles the internal subscriptions that imports create.
func (s *Server) deliverImport(from *conn, sub *subscription, m *message) bool {
	if m.hops > 0 {
		return false // a message crosses one import at most
	}
	m2 := *m
	m2.hops = 1
	if si := sub.stream; si != nil {
		if si.prefix != "" {
			m2.subject = append([]byte(si.prefix), m.subject...)
		}
		return s.fanOut(from, si.to.sl.Match(m2.subject), &m2)
	}
	svc := sub.service
	if svc.literal {
		m2.subject = []byte(svc.subject)
	} else if svc.remap != nil {
		m2.subject = svc.remap.Append(nil, m.subject)
	}
	if !svc.from.mapImported(&m2) {
		return false
	}
	var respSubj string
	if len(m.reply) > 0 {
		respSubj = svc.from.addResponse(sub.acc, m.reply, svc.ttl, svc.multi)
		m2.reply = []byte(respSubj)
	}
	ok := s.fanOut(from, svc.from.sl.Match(m2.subject), &m2)
	if !ok && respSubj != "" {
		svc.from.dropResponse(respSubj)
	}
	return ok
}

// accountSet is the accounts built from one set of options, before they
// are put in force.
type accountSet struct {
	byName  map[string]*account
	imports []*subscription // internal subscriptions, with the sublist they go in
	added   []*account      // accounts the server did not have before
}

// accountsFor returns the account objects options call for, reusing the
// server's existing ones by name so that their sublists (and the
// subscriptions in them) survive a reload.
func (s *Server) accountsFor(o *Options) (*accountSet, error) {
	set := &accountSet{byName: map[string]*account{GlobalAccount: s.global}}
	s.mu.Lock()
	for _, ac := range o.Accounts {
		a := s.accounts[ac.Name]
		if a == nil {
			a = newAccount(s, ac.Name)
			set.added = append(set.added, a)
		}
		set.byName[ac.Name] = a
	}
	s.mu.Unlock()
	configs := make(map[string]*AccountConfig, len(o.Accounts))
	for i := range o.Accounts {
		configs[o.Accounts[i].Name] = &o.Accounts[i]
	}
	for _, ac := range o.Accounts {
		a := set.byName[ac.Name]
		for _, im := range ac.Imports {
			sub, err := buildImport(set, configs, a, im)
			if err != nil {
				return nil, fmt.Errorf("accounts: account %q: %w", ac.Name, err)
			}
			set.imports = append(set.imports, sub)
		}
	}
	return set, nil
}

// buildImport makes the internal subscription for one import of account a.
// configs gives the exporters' settings (a service's response type).
func buildImport(set *accountSet, configs map[string]*AccountConfig, a *account, im Import) (*subscription, error) {
	if im.Stream != nil {
		src := set.byName[im.Stream.Account]
		sub := &subscription{acc: src, subject: im.Stream.Subject, stream: &streamImport{to: a}}
		if im.Prefix != "" {
			sub.stream.prefix = im.Prefix + "."
		}
		return sub, nil
	}
	src := set.byName[im.Service.Account]
	local := im.To
	if local == "" {
		local = im.Service.Subject
	}
	_, wild := subjectKind(im.Service.Subject)
	svc := &serviceImport{from: src, subject: im.Service.Subject, literal: !wild, ttl: responseTTL}
	if wild && im.To != "" && im.To != im.Service.Subject {
		tr, err := importRemap(im.To, im.Service.Subject)
		if err != nil {
			return nil, err
		}
		svc.remap = tr
	}
	if ex := findExport(configs[im.Service.Account], "service", im.Service.Subject, a.name); ex != nil {
		svc.multi = ex.ResponseType == ResponseStream || ex.ResponseType == ResponseChunked
		if ex.ResponseThreshold > 0 {
			svc.ttl = ex.ResponseThreshold
		}
	}
	return &subscription{acc: a, subject: local, service: svc}, nil
}

// install puts a built account set in force: the account table and the
// import subscriptions (the old ones removed).
func (s *Server) install(set *accountSet, o *Options) {
	limits := map[string]int{}
	for _, ac := range o.Accounts {
		limits[ac.Name] = ac.MaxConnections
	}
	s.mu.Lock()
	old := s.importSubs
	s.accounts = set.byName
	s.importSubs = set.imports
	s.mu.Unlock()
	s.accountsGen.Add(1) // after the store: see route.account
	for name, a := range set.byName {
		a.maxConns.Store(int64(limits[name]))
	}
	if err := s.installMappings(set, o); err != nil {
		s.log.Error("subject mappings not installed", "err", err) // validated before: cannot happen
	}
	for _, sub := range old {
		if sub.closed.CompareAndSwap(false, true) {
			_ = sub.acc.sl.Remove(sub.subject, "", sub)
		}
	}
	for _, sub := range set.imports {
		// Subjects were validated with the options.
		_ = sub.acc.sl.Insert(sub.subject, "", sub)
	}
}

// subjectKind reports whether s is a valid subscribe subject and whether it
// has wildcards.
func subjectKind(s string) (valid, wild bool) {
	if !sublist.ValidSubscribeSubject(s) {
		return false, false
	}
	for _, t := range strings.Split(s, ".") {
		if t == "*" || t == ">" {
			return true, true
		}
	}
	return true, false
}

// validateAccounts checks names, exports and imports: every import must
// name an account that exports a matching subject of the same kind to it.
func validateAccounts(o *Options, bad func(name, format string, args ...any)) {
	byName := map[string]*AccountConfig{}
	for i := range o.Accounts {
		ac := &o.Accounts[i]
		switch {
		case ac.Name == "":
			bad("accounts", "account %d has no name", i+1)
		case strings.HasPrefix(ac.Name, "$"):
			bad("accounts", "account name %q: names starting with $ are reserved", ac.Name)
		case byName[ac.Name] != nil:
			bad("accounts", "account %q is listed twice", ac.Name)
		}
		byName[ac.Name] = ac
		key := "accounts." + ac.Name
		if ac.MaxConnections < 0 {
			bad(key, "max_connections must not be negative")
		}
		for _, ex := range ac.Exports {
			subj := ex.Stream + ex.Service
			if (ex.Stream == "") == (ex.Service == "") {
				bad(key, "an export needs exactly one of stream and service")
			} else if ok, _ := subjectKind(subj); !ok {
				bad(key, "export %q is not a valid subject", subj)
			}
			switch ex.ResponseType {
			case "", ResponseSingleton, ResponseStream, ResponseChunked:
			default:
				bad(key, "export %q: response_type %q is not %q, %q or %q", subj, ex.ResponseType, ResponseSingleton, ResponseStream, ResponseChunked)
			}
			if ex.Stream != "" && (ex.ResponseType != "" || ex.ResponseThreshold != 0) {
				bad(key, "export %q: response_type and response_threshold apply to service exports only", subj)
			}
			if ex.ResponseThreshold < 0 {
				bad(key, "export %q: response_threshold must not be negative", subj)
			}
		}
	}
	for _, ac := range o.Accounts {
		for _, im := range ac.Imports {
			if err := checkImport(byName, ac.Name, im); err != nil {
				bad("accounts."+ac.Name, "%v", err)
			}
		}
	}
}

func checkImport(byName map[string]*AccountConfig, importer string, im Import) error {
	if (im.Stream == nil) == (im.Service == nil) {
		return errors.New("an import needs exactly one of stream and service")
	}
	kind, src := "stream", im.Stream
	if im.Service != nil {
		kind, src = "service", im.Service
		if im.Prefix != "" {
			return errors.New("prefix applies to stream imports only (use to)")
		}
	} else if im.To != "" {
		return errors.New("to applies to service imports only (use prefix)")
	}
	ok, wild := subjectKind(src.Subject)
	if !ok {
		return fmt.Errorf("%s import %q is not a valid subject", kind, src.Subject)
	}
	if im.To != "" {
		okTo, wildTo := subjectKind(im.To)
		if !okTo || wildTo != wild || wild && !sameWildcards(im.To, src.Subject) {
			return fmt.Errorf("service import to %q: to and the imported subject must both be literal subjects, or have the same wildcards in the same order", im.To)
		}
	}
	if im.Prefix != "" {
		if okP, wildP := subjectKind(im.Prefix); !okP || wildP {
			return fmt.Errorf("stream import prefix %q must be literal subject tokens", im.Prefix)
		}
	}
	exp := byName[src.Account]
	if exp == nil {
		return fmt.Errorf("%s import of %q: no account %q", kind, src.Subject, src.Account)
	}
	if src.Account == importer {
		return fmt.Errorf("%s import of %q: an account cannot import from itself", kind, src.Subject)
	}
	if findExport(exp, kind, src.Subject, importer) != nil {
		return nil
	}
	return fmt.Errorf("%s import of %q: account %q exports no %s covering it to %q", kind, src.Subject, src.Account, kind, importer)
}

// findExport returns the first export of kind ("stream" or "service") of
// account exp that covers subject and that importer may import, or nil.
func findExport(exp *AccountConfig, kind, subject, importer string) *Export {
	if exp == nil {
		return nil
	}
	want := pattern(strings.Split(subject, "."))
	for i := range exp.Exports {
		ex := &exp.Exports[i]
		es := ex.Stream
		if kind == "service" {
			es = ex.Service
		}
		if es == "" || !want.subsetOf(strings.Split(es, ".")) {
			continue
		}
		if len(ex.Accounts) > 0 && !contains(ex.Accounts, importer) {
			continue
		}
		return ex
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AccountBroker publishes and subscribes inside one account, with the same
// semantics as Server.Publish and Server.Subscribe (which use the global
// account). It satisfies the stream layer's Broker interface.
type AccountBroker struct {
	s   *Server
	acc *account
}

// ErrNoAccount is returned by Server.Account for an unknown account name.
var ErrNoAccount = errors.New("server: no such account")

// Account returns a broker for the named account ("" or "$G" for the
// global one).
func (s *Server) Account(name string) (*AccountBroker, error) {
	if name == "" || name == GlobalAccount {
		return &AccountBroker{s: s, acc: s.global}, nil
	}
	s.mu.Lock()
	a := s.accounts[name]
	s.mu.Unlock()
	if a == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoAccount, name)
	}
	return &AccountBroker{s: s, acc: a}, nil
}

// Publish routes a message inside the broker's account.
func (b *AccountBroker) Publish(subject, reply string, hdr, data []byte) error {
	return b.s.publishIn(b.acc, subject, reply, hdr, data)
}

// PublishMsg is Publish for a caller that holds the subject as bytes and
// the header block and data joined in msg (the header its first hdrLen
// bytes, as on the wire): nothing is converted or copied, so a caller
// that publishes from buffers of its own (the MQTT layer, for each
// PUBLISH packet) allocates nothing per message. The slices are only
// read during the call, as with Publish.
func (b *AccountBroker) PublishMsg(subject []byte, reply string, msg []byte, hdrLen int) error {
	if !sublist.ValidPublishSubject(subject) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	if hdrLen < 0 || hdrLen > len(msg) {
		return fmt.Errorf("server: header length %d outside a message of %d bytes", hdrLen, len(msg))
	}
	m := message{subject: subject, reply: []byte(reply), data: msg, hdrLen: hdrLen}
	b.s.publishMsgIn(b.acc, &m)
	return nil
}

// Subscribe registers an in-process subscription in the broker's account.
func (b *AccountBroker) Subscribe(subject, queue string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error) {
	return b.s.subscribeIn(b.acc, subject, queue, fn)
}

// Deliver routes a message to the subscribers of deliver in the broker's
// account while they see it under subject, as Server.Deliver does in the
// global account (the stream layer hands out stored messages this way).
func (b *AccountBroker) Deliver(deliver, subject, reply string, hdr, data []byte) error {
	return b.s.deliverIn(b.acc, deliver, subject, reply, hdr, data)
}

// sameWildcards reports whether two subjects have the same wildcards in
// the same order: as many '*', and a final '>' in both or neither.
func sameWildcards(a, b string) bool {
	wilds := func(s string) string {
		var w []byte
		for _, t := range strings.Split(s, ".") {
			if t == "*" || t == ">" {
				w = append(w, t[0])
			}
		}
		return string(w)
	}
	return wilds(a) == wilds(b)
}

// importRemap is the transform from a wildcard service import's local
// subject to the exporter's: each '*' of to fills the exporter's '*' of
// the same rank, and a final '>' the final '>'.
func importRemap(to, exported string) (*subjectmap.Transform, error) {
	toks := strings.Split(exported, ".")
	n := 0
	for i, t := range toks {
		if t == "*" {
			n++
			toks[i] = fmt.Sprintf("{{wildcard(%d)}}", n)
		}
	}
	tr, err := subjectmap.NewTransform(to, strings.Join(toks, "."))
	if err != nil {
		return nil, fmt.Errorf("service import to %q: %w", to, err)
	}
	return tr, nil
}
