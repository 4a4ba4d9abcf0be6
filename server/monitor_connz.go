package server

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/sublist"
)

// Connz is the /connz body: one page of the open client connections.
type Connz struct {
	ServerID string     `json:"server_id"`
	Now      time.Time  `json:"now"`
	NumConns int        `json:"num_connections"` // on this page
	Total    int        `json:"total"`           // matching the query, all pages
	Offset   int        `json:"offset"`
	Limit    int        `json:"limit"`
	Sort     string     `json:"sort"`
	Conns    []ConnInfo `json:"connections"`
}

// ConnInfo is one connection in /connz, with nats-server's field names.
type ConnInfo struct {
	CID            uint64      `json:"cid"`
	Kind           string      `json:"kind"` // always "Client": routes are in /routez
	Type           string      `json:"type"` // "nats", "websocket" or "mqtt"
	IP             string      `json:"ip"`
	Port           int         `json:"port"`
	Start          time.Time   `json:"start"`
	LastActivity   time.Time   `json:"last_activity"`
	RTT            string      `json:"rtt,omitempty"`
	Uptime         string      `json:"uptime"`
	Idle           string      `json:"idle"`
	PendingBytes   int64       `json:"pending_bytes"`
	InMsgs         int64       `json:"in_msgs"`
	OutMsgs        int64       `json:"out_msgs"`
	InBytes        int64       `json:"in_bytes"`
	OutBytes       int64       `json:"out_bytes"`
	NumSubs        int         `json:"subscriptions"`
	Name           string      `json:"name,omitempty"`
	Lang           string      `json:"lang,omitempty"`
	Version        string      `json:"version,omitempty"`
	AuthorizedUser string      `json:"authorized_user,omitempty"` // with auth=1
	Account        string      `json:"account,omitempty"`
	MQTTClient     string      `json:"mqtt_client,omitempty"` // an MQTT client's client id
	Subs           []string    `json:"subscriptions_list,omitempty"`
	SubsDetail     []SubDetail `json:"subscriptions_list_detail,omitempty"`
}

// connSorts are the /connz sort keys. As in nats-server, cid and start sort
// ascending and the rest put the largest first. Ties keep cid order.
var connSorts = map[string]func(a, b *ConnSnapshot) int{
	"cid":        func(a, b *ConnSnapshot) int { return cmp.Compare(a.CID, b.CID) },
	"start":      func(a, b *ConnSnapshot) int { return a.Start.Compare(b.Start) },
	"subs":       func(a, b *ConnSnapshot) int { return cmp.Compare(b.NumSubs, a.NumSubs) },
	"pending":    func(a, b *ConnSnapshot) int { return cmp.Compare(b.PendingBytes, a.PendingBytes) },
	"msgs_to":    func(a, b *ConnSnapshot) int { return cmp.Compare(b.OutMsgs, a.OutMsgs) },
	"msgs_from":  func(a, b *ConnSnapshot) int { return cmp.Compare(b.InMsgs, a.InMsgs) },
	"bytes_to":   func(a, b *ConnSnapshot) int { return cmp.Compare(b.OutBytes, a.OutBytes) },
	"bytes_from": func(a, b *ConnSnapshot) int { return cmp.Compare(b.InBytes, a.InBytes) },
	"uptime":     func(a, b *ConnSnapshot) int { return a.Start.Compare(b.Start) }, // longest first
	"last":       func(a, b *ConnSnapshot) int { return b.lastActive().Compare(a.lastActive()) },
	"idle":       func(a, b *ConnSnapshot) int { return a.lastActive().Compare(b.lastActive()) }, // longest idle first
	"rtt":        func(a, b *ConnSnapshot) int { return cmp.Compare(b.RTT, a.RTT) },
}

// lastActive is LastActivity, or Start for a connection that does not
// track it (a client of another protocol).
func (c *ConnSnapshot) lastActive() time.Time {
	if c.LastActivity.IsZero() {
		return c.Start
	}
	return c.LastActivity
}

// formatRTT writes a round trip as nats-server does: Go's duration text,
// cut to the microsecond below a millisecond ("211µs", "1.234567ms", "0s").
func formatRTT(d time.Duration) string {
	if d > time.Microsecond && d < time.Millisecond {
		d = d.Truncate(time.Microsecond)
	}
	return d.String()
}

// formatIdle is the time since last as /connz and /routez show it, in
// uptime's style; never negative, though last may be a little after now.
func formatIdle(now, last time.Time) string {
	return formatUptime(max(now.Sub(last), 0))
}

// connzQuery is a parsed /connz request.
type connzQuery struct {
	page   pageParams
	sort   string
	subs   subsMode
	auth   bool
	cid    uint64 // only this connection, when set
	hasCID bool
	acc    string // only this account's connections, when set
	user   string // only this user's connections, when set
	// filter, when set, keeps only connections with a subscription that
	// can receive a message on it (nats-server's filter_subject).
	filter  pattern
	sortCmp func(a, b *ConnSnapshot) int
}

// subsMode is how much of each connection's subscriptions to list.
type subsMode uint8

const (
	subsNone   subsMode = iota
	subsList            // subs=1: subjects only, as nats-server
	subsDetail          // subs=detail: sid, queue, delivered count
)

func parseConnz(v url.Values) (connzQuery, error) {
	var q connzQuery
	var err error
	if q.page, err = parsePage(v); err != nil {
		return q, err
	}
	q.sort = v.Get("sort")
	if q.sort == "" {
		q.sort = "cid"
	}
	if q.sortCmp = connSorts[q.sort]; q.sortCmp == nil {
		return q, fmt.Errorf("%w: unknown sort %q (use cid, start, subs, pending, msgs_to, msgs_from, bytes_to, bytes_from, uptime, last, idle or rtt)", errBadQuery, q.sort)
	}
	if q.subs, err = parseSubsMode(v); err != nil {
		return q, err
	}
	if q.auth, err = boolParam(v, "auth"); err != nil {
		return q, err
	}
	q.acc, q.user = v.Get("acc"), v.Get("user")
	if f := v.Get("filter_subject"); f != "" && f != ">" {
		// As in nats-server: a subject filter looks into one account.
		if q.acc == "" {
			return q, fmt.Errorf("%w: filter_subject=%q: filter by subject only valid with account filtering (acc)", errBadQuery, f)
		}
		if !sublist.ValidSubscribeSubject(f) {
			return q, fmt.Errorf("%w: filter_subject=%q is not a valid subject", errBadQuery, f)
		}
		q.filter = pattern(strings.Split(f, "."))
	}
	if v := v.Get("cid"); v != "" {
		if q.cid, err = strconv.ParseUint(v, 10, 64); err != nil {
			return q, fmt.Errorf("%w: cid=%q is not a connection id", errBadQuery, v)
		}
		q.hasCID = true
	}
	return q, nil
}

func parseSubsMode(v url.Values) (subsMode, error) {
	if v.Get("subs") == "detail" {
		return subsDetail, nil
	}
	on, err := boolParam(v, "subs")
	if on {
		return subsList, err
	}
	return subsNone, err
}

// Connz returns one page of connections as /connz serves it.
func (s *Server) connz(q connzQuery) Connz {
	all := s.Conns(q.subs != subsNone || q.filter != nil)
	all = slices.DeleteFunc(all, func(c ConnSnapshot) bool {
		return (q.hasCID && c.CID != q.cid) || (q.acc != "" && c.Account != q.acc) || (q.user != "" && c.User != q.user) ||
			(q.filter != nil && !subscribedTo(c.Subs, q.filter))
	})
	slices.SortStableFunc(all, func(a, b ConnSnapshot) int { return q.sortCmp(&a, &b) })
	now := time.Now()
	lo, hi := q.page.bounds(len(all))
	cz := Connz{
		ServerID: s.id, Now: now, NumConns: hi - lo, Total: len(all),
		Offset: q.page.offset, Limit: q.page.limit, Sort: q.sort,
		Conns: make([]ConnInfo, 0, hi-lo),
	}
	for i := lo; i < hi; i++ {
		cz.Conns = append(cz.Conns, connInfo(&all[i], now, q))
	}
	return cz
}

func connInfo(c *ConnSnapshot, now time.Time, q connzQuery) ConnInfo {
	ci := ConnInfo{
		CID: c.CID, Kind: "Client", Type: "nats", Account: c.Account, IP: c.IP, Port: c.Port, Start: c.Start, Uptime: formatUptime(now.Sub(c.Start)),
		LastActivity: c.lastActive(), Idle: formatIdle(now, c.lastActive()), RTT: formatRTT(c.RTT),
		PendingBytes: c.PendingBytes, InMsgs: c.InMsgs, OutMsgs: c.OutMsgs,
		InBytes: c.InBytes, OutBytes: c.OutBytes, NumSubs: c.NumSubs,
		Name: c.Name, Lang: c.Lang, Version: c.Version, MQTTClient: c.MQTTClient,
	}
	if c.Type != "" {
		ci.Type = c.Type
	}
	if c.Websocket {
		ci.Type = "websocket"
	}
	if q.auth {
		ci.AuthorizedUser = c.User
	}
	subs := sortedSubs(c.Subs)
	switch q.subs {
	case subsList:
		ci.Subs = make([]string, 0, len(subs))
		for _, sub := range subs {
			ci.Subs = append(ci.Subs, sub.Subject)
		}
	case subsDetail:
		ci.SubsDetail = make([]SubDetail, 0, len(subs))
		for _, sub := range subs {
			ci.SubsDetail = append(ci.SubsDetail, subDetail(sub, c.CID))
		}
	}
	return ci
}

// subscribedTo reports whether one of subs can receive a message that
// filter (which may hold wildcards) can also match.
func subscribedTo(subs []SubSnapshot, filter pattern) bool {
	for _, sub := range subs {
		if filter.overlaps(pattern(strings.Split(sub.Subject, "."))) {
			return true
		}
	}
	return false
}

// sortedSubs orders a connection's subscriptions by subject, then sid.
func sortedSubs(subs []SubSnapshot) []SubSnapshot {
	slices.SortFunc(subs, func(a, b SubSnapshot) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Sid, b.Sid))
	})
	return subs
}

func (s *Server) handleConnz(w http.ResponseWriter, r *http.Request) {
	q, err := parseConnz(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.connz(q))
}
