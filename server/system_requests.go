package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The $SYS requests every server answers, with nats-server's subjects and
// bodies:
//
//	$SYS.REQ.SERVER.PING                 statsz of every server
//	$SYS.REQ.SERVER.PING.<KIND>          KIND of every server
//	$SYS.REQ.SERVER.<id>.<KIND>          KIND of one server
//	$SYS.REQ.ACCOUNT.<acc>.<KIND>        CONNZ, SUBSZ, JSZ, INFO, STATZ of one account
//	$SYS.REQ.USER.INFO                   the requester's user (in every account)
//
// A request's body is empty or a JSON object holding the kind's options
// (nats-server's names) and the server filter (server_name, cluster, host,
// tags, domain): a server that does not match stays silent. The options are
// turned into the query parameters of the HTTP endpoint of the same kind
// and answered by the same report builder, so both agree.

const (
	subjPing     = "$SYS.REQ.SERVER.PING"
	subjUserInfo = "$SYS.REQ.USER.INFO"
)

// sysKinds are the report kinds a server answers under PING and its id.
var sysKinds = []string{"STATSZ", "VARZ", "CONNZ", "SUBSZ", "JSZ", "HEALTHZ", "STATZ", "IDZ", "ACCOUNTZ", "ROUTEZ"}

// sysAccountKinds are the report kinds about one account.
var sysAccountKinds = []string{"CONNZ", "SUBSZ", "JSZ", "INFO", "STATZ"}

// sysResponders lists the system account's request subjects and handlers.
func (s *Server) sysResponders() map[string]sysHandler {
	h := map[string]sysHandler{
		subjPing: s.serveKind("STATSZ"),
	}
	for _, k := range sysKinds {
		h[subjPing+"."+k] = s.serveKind(k)
		h["$SYS.REQ.SERVER."+s.id+"."+k] = s.serveKind(k)
	}
	for _, k := range sysAccountKinds {
		h["$SYS.REQ.ACCOUNT.*."+k] = s.serveAccountKind(k)
	}
	for k, fn := range s.sysControls() {
		h["$SYS.REQ.SERVER."+s.id+"."+k] = fn
	}
	return h
}

// sysFilter is the server filter of a request, as nats-server's
// EventFilterOptions: name, cluster and host match as substrings.
type sysFilter struct {
	Name    string   `json:"server_name"`
	Cluster string   `json:"cluster"`
	Host    string   `json:"host"`
	Tags    []string `json:"tags"`
	Domain  string   `json:"domain"`
}

func (s *Server) matches(f *sysFilter) bool {
	o := s.o()
	return strings.Contains(s.name, f.Name) && strings.Contains(o.Cluster.Name, f.Cluster) &&
		strings.Contains(o.Host, f.Host) && len(f.Tags) == 0 && f.Domain == ""
}

// sysOptions is every option a request may carry, with nats-server's JSON
// names; each kind reads those it knows.
type sysOptions struct {
	sysFilter
	Sort          string   `json:"sort"`
	Auth          bool     `json:"auth"`
	Subs          bool     `json:"subscriptions"`
	SubsDetail    bool     `json:"subscriptions_detail"`
	Offset        int      `json:"offset"`
	Limit         int      `json:"limit"`
	CID           uint64   `json:"cid"`
	State         any      `json:"state"`
	User          string   `json:"user"`
	Acc           string   `json:"acc"`
	FilterSubject string   `json:"filter_subject"`
	Account       string   `json:"account"`
	Test          string   `json:"test"`
	JSEnabled     bool     `json:"js-enabled"`
	JSEnabledOnly bool     `json:"js-enabled-only"`
	JSServerOnly  bool     `json:"js-server-only"`
	JSMetaOnly    bool     `json:"js-meta-only"`
	Stream        string   `json:"stream"`
	Consumer      string   `json:"consumer"`
	Details       bool     `json:"details"`
	Accounts      []string `json:"accounts"`
	IncludeUnused bool     `json:"include_unused"`
}

// connzValues and subszValues turn request options into the query
// parameters of /connz and /subsz.
func (o *sysOptions) connzValues() (url.Values, error) {
	if o.State != nil {
		if st, ok := o.State.(float64); !ok || st != 0 {
			return nil, fmt.Errorf("%w: state: Wisp lists open connections only", errBadQuery)
		}
	}
	v := url.Values{}
	setIf(v, "sort", o.Sort)
	setIf(v, "user", o.User)
	setIf(v, "acc", o.Acc)
	setIf(v, "filter_subject", o.FilterSubject)
	if o.Auth {
		v.Set("auth", "1")
	}
	if o.SubsDetail {
		v.Set("subs", "detail")
	} else if o.Subs {
		v.Set("subs", "1")
	}
	o.page(v)
	if o.CID != 0 {
		v.Set("cid", strconv.FormatUint(o.CID, 10))
	}
	return v, nil
}

// routezValues carries the subscription options, as /routez's subs.
func (o *sysOptions) routezValues() url.Values {
	v := url.Values{}
	if o.SubsDetail {
		v.Set("subs", "detail")
	} else if o.Subs {
		v.Set("subs", "1")
	}
	return v
}

func (o *sysOptions) subszValues() url.Values {
	v := url.Values{}
	if o.Subs {
		v.Set("subs", "1")
	}
	setIf(v, "test", o.Test)
	setIf(v, "acc", o.Account)
	o.page(v)
	return v
}

func (o *sysOptions) healthzValues() url.Values {
	v := url.Values{}
	for k, on := range map[string]bool{
		"js-enabled": o.JSEnabled, "js-enabled-only": o.JSEnabledOnly, "js-server-only": o.JSServerOnly,
		"js-meta-only": o.JSMetaOnly, "details": o.Details,
	} {
		if on {
			v.Set(k, "1")
		}
	}
	setIf(v, "account", o.Account)
	setIf(v, "stream", o.Stream)
	setIf(v, "consumer", o.Consumer)
	return v
}

// statzAccounts are the accounts a STATZ request names: its accounts
// option, or the single account option.
func (o *sysOptions) statzAccounts() []string {
	if len(o.Accounts) > 0 {
		return o.Accounts
	}
	if o.Account != "" {
		return []string{o.Account}
	}
	return nil
}

func (o *sysOptions) page(v url.Values) {
	if o.Offset != 0 {
		v.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.Limit != 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
}

func setIf(v url.Values, k, val string) {
	if val != "" {
		v.Set(k, val)
	}
}

// serveKind answers one report kind about this server.
func (s *Server) serveKind(kind string) sysHandler {
	return func(_ *conn, _, reply, data []byte) {
		if len(reply) == 0 {
			return
		}
		var o sysOptions
		if err := decodeSysOptions(data, &o); err != nil {
			s.sysAnswer(string(reply), nil, err)
			return
		}
		if !s.matches(&o.sysFilter) {
			return
		}
		r := string(reply)
		s.sysGo(func() { s.answerKind(kind, r, &o) })
	}
}

// serveAccountKind answers one report kind about the account named in the
// subject's fourth token.
func (s *Server) serveAccountKind(kind string) sysHandler {
	return func(_ *conn, subject, reply, data []byte) {
		if len(reply) == 0 {
			return
		}
		name := sysToken(string(subject), 3)
		if name == "PING" && kind != "STATZ" {
			name = s.sysAcc.name // as asked from any account: its own
		}
		var o sysOptions
		if err := decodeSysOptions(data, &o); err != nil {
			s.sysAnswer(string(reply), nil, err)
			return
		}
		r := string(reply)
		s.sysGo(func() { s.answerAccount(kind, name, r, &o) })
	}
}

func decodeSysOptions(data []byte, o *sysOptions) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, o); err != nil {
		return fmt.Errorf("%w: request options: %v", errBadQuery, err)
	}
	return nil
}

// sysAnswer sends the envelope with data, or the error, in the system
// account; sysAnswerIn in another.
func (s *Server) sysAnswer(reply string, data any, err error) {
	s.sysAnswerIn(s.sysAcc, reply, data, err)
}

func (s *Server) sysAnswerIn(acc *account, reply string, data any, err error) {
	resp := sysResponse{Server: s.serverInfo(), Data: data}
	if err != nil {
		code := 500
		switch {
		case errors.Is(err, errBadQuery):
			code = 400
		case errors.Is(err, errNoStreamLayer), errors.Is(err, errNoAccount):
			code = 404
		}
		resp.Data, resp.Error = nil, &sysError{Code: code, Description: err.Error()}
	}
	s.sysReply(acc, reply, resp)
}

var errNoAccount = errors.New("account not found")

func (s *Server) answerKind(kind, reply string, o *sysOptions) {
	switch kind {
	case "STATSZ":
		s.sysReply(s.sysAcc, reply, s.statszMsg())
	case "IDZ":
		s.sysReply(s.sysAcc, reply, s.idz())
	case "VARZ":
		s.sysAnswer(reply, s.Varz(), nil)
	case "CONNZ":
		v, err := o.connzValues()
		s.answerConnz(reply, v, err)
	case "SUBSZ":
		s.answerSubsz(reply, o.subszValues())
	case "JSZ":
		s.answerJsz(reply, o.Account)
	case "HEALTHZ":
		q, err := parseHealthz(o.healthzValues())
		if err != nil {
			s.sysAnswer(reply, nil, err)
			return
		}
		s.sysAnswer(reply, s.healthz(q), nil)
	case "STATZ":
		s.answerStatz(s.sysAcc, reply, o.statzAccounts(), o.IncludeUnused)
	case "ACCOUNTZ":
		data, err := s.accountz(o.Account)
		s.sysAnswer(reply, data, err)
	case "ROUTEZ":
		subs, err := parseSubsMode(o.routezValues())
		if err != nil {
			s.sysAnswer(reply, nil, err)
			return
		}
		s.sysAnswer(reply, s.routez(subs), nil)
	}
}

func (s *Server) answerAccount(kind, name, reply string, o *sysOptions) {
	acc := s.lookupAccount(name)
	if acc == nil && !(name == "PING" && kind == "STATZ") {
		s.sysAnswer(reply, nil, fmt.Errorf("%w: %q", errNoAccount, name))
		return
	}
	switch kind {
	case "CONNZ":
		o.Acc = name
		v, err := o.connzValues()
		s.answerConnz(reply, v, err)
	case "SUBSZ":
		o.Account = name
		s.answerSubsz(reply, o.subszValues())
	case "JSZ":
		s.answerJsz(reply, name)
	case "INFO":
		s.sysAnswer(reply, s.accountInfo(acc), nil)
	case "STATZ":
		names := []string{name}
		if name == "PING" {
			names = o.statzAccounts()
		}
		s.answerStatz(s.sysAcc, reply, names, o.IncludeUnused)
	}
}

func (s *Server) answerConnz(reply string, v url.Values, err error) {
	if err != nil {
		s.sysAnswer(reply, nil, err)
		return
	}
	q, err := parseConnz(v)
	if err != nil {
		s.sysAnswer(reply, nil, err)
		return
	}
	s.sysAnswer(reply, s.connz(q), nil)
}

func (s *Server) answerSubsz(reply string, v url.Values) {
	q, err := parseSubsz(v)
	if err != nil {
		s.sysAnswer(reply, nil, err)
		return
	}
	s.sysAnswer(reply, s.subsz(q), nil)
}

// answerJsz sends /jsz's report; for one account, only its streams (the
// report names a named account's streams "account/stream").
func (s *Server) answerJsz(reply, account string) {
	rep, err := s.jetStreamReport()
	if err != nil {
		s.sysAnswer(reply, nil, err)
		return
	}
	if account != "" {
		rep = rep.forAccount(account)
	}
	s.sysAnswer(reply, s.jsz(&rep), nil)
}

// forAccount keeps the streams of one account, named without the prefix.
func (rep JetStreamReport) forAccount(account string) JetStreamReport {
	out := rep
	out.Streams = nil
	for _, sr := range rep.Streams {
		acc, name, named := strings.Cut(sr.Name, "/")
		if !named {
			acc, name = GlobalAccount, sr.Name
		}
		if acc == account {
			sr.Name = name
			out.Streams = append(out.Streams, sr)
		}
	}
	return out
}

// Idz is the IDZ answer (bare, without the envelope, as nats-server's).
type Idz struct {
	Name string `json:"name"`
	Host string `json:"host"`
	ID   string `json:"id"`
}

func (s *Server) idz() Idz { return Idz{Name: s.name, Host: s.o().Host, ID: s.id} }

// ServerStatsMsg is the STATSZ answer and event, nats-server's shape.
type ServerStatsMsg struct {
	Server ServerInfo  `json:"server"`
	Stats  ServerStats `json:"statsz"`
}

// ServerStats are a server's figures in a STATSZ message.
type ServerStats struct {
	Start            time.Time      `json:"start"`
	Mem              int64          `json:"mem"`
	Cores            int            `json:"cores"`
	CPU              float64        `json:"cpu"`
	Connections      int            `json:"connections"`
	TotalConnections int64          `json:"total_connections"`
	ActiveAccounts   int            `json:"active_accounts"`
	NumSubs          int            `json:"subscriptions"`
	Sent             DataStats      `json:"sent"`
	Received         DataStats      `json:"received"`
	SlowConsumers    int64          `json:"slow_consumers"`
	Routes           []RouteStat    `json:"routes,omitempty"`
	ActiveServers    int            `json:"active_servers,omitempty"`
	JetStream        *JetStreamVarz `json:"jetstream,omitempty"`
	GoMaxProcs       int            `json:"gomaxprocs"`
}

// DataStats count messages and bytes.
type DataStats struct {
	Msgs  int64 `json:"msgs"`
	Bytes int64 `json:"bytes"`
}

// RouteStat is one route in a STATSZ message.
type RouteStat struct {
	ID       uint64    `json:"rid"`
	Name     string    `json:"name,omitempty"`
	Sent     DataStats `json:"sent"`
	Received DataStats `json:"received"`
	Pending  int64     `json:"pending"`
}

func (s *Server) statszMsg() ServerStatsMsg {
	v := s.Varz()
	st := ServerStats{
		Start: v.Start, Mem: v.Mem, Cores: v.Cores, CPU: v.CPU,
		Connections: v.Connections, TotalConnections: v.TotalConnections,
		ActiveAccounts: s.activeAccounts(), NumSubs: v.Subscriptions,
		Sent:          DataStats{Msgs: v.OutMsgs, Bytes: v.OutBytes},
		Received:      DataStats{Msgs: v.InMsgs, Bytes: v.InBytes},
		SlowConsumers: v.SlowConsumers, ActiveServers: 1, GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	for _, r := range s.Routez().Routes {
		st.Routes = append(st.Routes, RouteStat{
			ID: r.RID, Name: r.RemoteName,
			Sent:     DataStats{Msgs: r.OutMsgs, Bytes: r.OutBytes},
			Received: DataStats{Msgs: r.InMsgs, Bytes: r.InBytes},
			Pending:  r.Pending,
		})
	}
	st.ActiveServers += len(st.Routes)
	if v.JetStream.Enabled {
		js := v.JetStream
		st.JetStream = &js
	}
	return ServerStatsMsg{Server: s.serverInfo(), Stats: st}
}

// activeAccounts counts the accounts with at least one connection.
func (s *Server) activeAccounts() int {
	n := 0
	for _, a := range s.allAccounts() {
		if a.nconns.Load() > 0 || (a == s.global && s.NumConnections() > 0) {
			n++
		}
	}
	return n
}

// allAccounts lists every account, the built-in system one included.
func (s *Server) allAccounts() []*account {
	accs := s.accountList()
	if s.sysAcc != nil && s.sysAcc.name == DefaultSystemAccount {
		accs = append(accs, s.sysAcc)
	}
	return accs
}

// Statz is the STATZ answer: per-account figures.
type Statz struct {
	ServerID string        `json:"server_id"`
	Now      time.Time     `json:"now"`
	Accounts []AccountStat `json:"account_statz"`
}

// AccountStat is one account in STATZ. Sent and received count the
// messages of its open connections.
type AccountStat struct {
	Account       string    `json:"acc"`
	Name          string    `json:"name"`
	Conns         int       `json:"conns"`
	LeafNodes     int       `json:"leafnodes"`
	TotalConns    int       `json:"total_conns"`
	NumSubs       uint32    `json:"num_subscriptions"`
	Sent          DataStats `json:"sent"`
	Received      DataStats `json:"received"`
	SlowConsumers int64     `json:"slow_consumers"`
}

// answerStatz answers with statz, in account acc; as nats-server, a
// server with nothing to report stays silent unless unused is set.
func (s *Server) answerStatz(acc *account, reply string, names []string, unused bool) {
	if st := s.statz(names, unused); len(st.Accounts) > 0 || unused {
		s.sysAnswerIn(acc, reply, st, nil)
	}
}

// statz reports the accounts named, or every account; those without
// connections only when unused is set.
func (s *Server) statz(names []string, unused bool) Statz {
	byAcc := map[string]*AccountStat{}
	for _, a := range s.allAccounts() {
		if len(names) > 0 && !slices.Contains(names, a.name) {
			continue
		}
		byAcc[a.name] = &AccountStat{Account: a.name, Name: a.name, NumSubs: uint32(s.accountSubCount(a))}
	}
	for _, c := range s.Conns(false) {
		st := byAcc[c.Account]
		if st == nil {
			continue
		}
		st.Conns++
		st.TotalConns++
		st.Sent.Msgs += c.OutMsgs
		st.Sent.Bytes += c.OutBytes
		st.Received.Msgs += c.InMsgs
		st.Received.Bytes += c.InBytes
	}
	out := Statz{ServerID: s.id, Now: time.Now().UTC(), Accounts: []AccountStat{}}
	for _, a := range s.allAccounts() {
		if st := byAcc[a.name]; st != nil && (unused || st.Conns > 0) {
			out.Accounts = append(out.Accounts, *st)
		}
	}
	return out
}

// Accountz is the ACCOUNTZ answer: the accounts, or one in detail.
type Accountz struct {
	ServerID      string       `json:"server_id"`
	Now           time.Time    `json:"now"`
	SystemAccount string       `json:"system_account"`
	Accounts      []string     `json:"accounts,omitempty"`
	Account       *AccountInfo `json:"account_detail,omitempty"`
}

func (s *Server) accountz(name string) (Accountz, error) {
	az := Accountz{ServerID: s.id, Now: time.Now().UTC(), SystemAccount: s.sysAcc.name}
	if name != "" {
		acc := s.lookupAccount(name)
		if acc == nil {
			return az, fmt.Errorf("%w: %q", errNoAccount, name)
		}
		info := s.accountInfo(acc)
		az.Account = &info
		return az, nil
	}
	for _, a := range s.allAccounts() {
		az.Accounts = append(az.Accounts, a.name)
	}
	return az, nil
}

// AccountInfo is the INFO answer about one account.
type AccountInfo struct {
	Name        string       `json:"account_name"`
	Updated     time.Time    `json:"update_time"`
	IsSystem    bool         `json:"is_system,omitempty"`
	Expired     bool         `json:"expired"`
	Complete    bool         `json:"complete"`
	JetStream   bool         `json:"jetstream_enabled"`
	LeafNodes   int          `json:"leafnode_connections"`
	ClientConns int          `json:"client_connections"`
	NumSubs     uint32       `json:"subscriptions"`
	Exports     []ExportInfo `json:"exports,omitempty"`
	Imports     []ExportInfo `json:"imports,omitempty"`
}

// ExportInfo is one export or import in an account's INFO.
type ExportInfo struct {
	Subject string `json:"subject"`
	Account string `json:"account,omitempty"`
	To      string `json:"to,omitempty"`
	Type    string `json:"type"`
}

func (s *Server) accountInfo(acc *account) AccountInfo {
	info := AccountInfo{
		Name: acc.name, Updated: s.start.UTC(), IsSystem: acc == s.sysAcc, Complete: true,
		JetStream: s.o().JetStream && acc != s.sysAcc, NumSubs: uint32(s.accountSubCount(acc)),
	}
	if acc == s.global {
		for _, c := range s.Conns(false) {
			if c.Account == GlobalAccount {
				info.ClientConns++
			}
		}
	} else {
		info.ClientConns = int(acc.nconns.Load())
	}
	for _, ac := range s.o().Accounts {
		if ac.Name != acc.name {
			continue
		}
		for _, ex := range ac.Exports {
			e := ExportInfo{Subject: ex.Stream, Type: "stream"}
			if ex.Service != "" {
				e = ExportInfo{Subject: ex.Service, Type: "service"}
			}
			info.Exports = append(info.Exports, e)
		}
		for _, im := range ac.Imports {
			if im.Stream != nil {
				info.Imports = append(info.Imports, ExportInfo{Subject: im.Stream.Subject, Account: im.Stream.Account, To: im.Prefix, Type: "stream"})
			} else {
				info.Imports = append(info.Imports, ExportInfo{Subject: im.Service.Subject, Account: im.Service.Account, To: im.To, Type: "service"})
			}
		}
	}
	return info
}

// accountResponder is a request every account answers about itself.
type accountResponder struct {
	subject  string
	routable bool
	h        sysHandler
}

// accountResponders are the requests a user of any account may send, as
// nats-server imports them into every account: who am I, and this
// account's connections and figures, from every server (so they travel
// over routes, in the account). The system account's own users get the
// same from its full responders, except USER.INFO.
func (s *Server) accountResponders(a *account) []accountResponder {
	rs := []accountResponder{{subjUserInfo, false, s.handleUserInfo}}
	if a == s.sysAcc {
		return rs
	}
	connz := func(_ *conn, _, reply, data []byte) {
		if len(reply) == 0 {
			return
		}
		var o sysOptions
		if err := decodeSysOptions(data, &o); err != nil {
			s.sysAnswerIn(a, string(reply), nil, err)
			return
		}
		if !s.matches(&o.sysFilter) {
			return
		}
		o.Acc = a.name
		r := string(reply)
		s.sysGo(func() {
			v, err := o.connzValues()
			if err == nil {
				var q connzQuery
				if q, err = parseConnz(v); err == nil {
					s.sysAnswerIn(a, r, s.connz(q), nil)
					return
				}
			}
			s.sysAnswerIn(a, r, nil, err)
		})
	}
	statz := func(_ *conn, _, reply, data []byte) {
		var o sysOptions
		if len(reply) == 0 || decodeSysOptions(data, &o) != nil || !s.matches(&o.sysFilter) {
			return
		}
		r := string(reply)
		s.sysGo(func() { s.answerStatz(a, r, []string{a.name}, o.IncludeUnused) })
	}
	return append(rs,
		accountResponder{subjPing + ".CONNZ", true, connz},
		accountResponder{"$SYS.REQ.ACCOUNT.PING.CONNZ", true, connz},
		accountResponder{"$SYS.REQ.ACCOUNT.PING.STATZ", true, statz},
	)
}

// UserInfo is the $SYS.REQ.USER.INFO answer: who the requester is. (The
// permissions nats-server adds are not reported.)
type UserInfo struct {
	User        string `json:"user"`
	Account     string `json:"account"`
	AccountName string `json:"account_name"`
}

// handleUserInfo answers in the requester's own account, about the user
// of the connection that sent the request.
func (s *Server) handleUserInfo(from *conn, _, reply, _ []byte) {
	if from == nil || len(reply) == 0 {
		return
	}
	from.infoMu.Lock()
	user, acc := from.user, from.acc
	from.infoMu.Unlock()
	if acc == nil {
		acc = s.global
	}
	ui := UserInfo{User: user, Account: acc.name, AccountName: acc.name}
	r := string(reply)
	s.sysGo(func() { s.sysReply(acc, r, sysResponse{Server: s.serverInfo(), Data: ui}) })
}
