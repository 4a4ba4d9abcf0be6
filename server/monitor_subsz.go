package server

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/sublist"
)

// Subsz is the /subsz body: the subject index's counters and, with subs=1,
// one page of the subscriptions.
type Subsz struct {
	ServerID string    `json:"server_id"`
	Now      time.Time `json:"now"`
	SublistStats
	*SubsList // present with subs=1
}

// SubsList is the listing part of /subsz.
type SubsList struct {
	Total  int         `json:"total"` // matching the filter, all pages
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Subs   []SubDetail `json:"subscriptions_list"`
}

// SubDetail is one subscription, with nats-server's field names. In-process
// subscriptions (the stream layer's) have cid 0 and no sid.
type SubDetail struct {
	Subject string `json:"subject"`
	Queue   string `json:"qgroup,omitempty"`
	Sid     string `json:"sid,omitempty"`
	Msgs    int64  `json:"msgs"`          // delivered so far
	Max     int64  `json:"max,omitempty"` // auto-unsubscribe limit
	CID     uint64 `json:"cid"`
}

func subDetail(sub SubSnapshot, cid uint64) SubDetail {
	return SubDetail{Subject: sub.Subject, Queue: sub.Queue, Sid: sub.Sid, Msgs: sub.Delivered, Max: sub.Max, CID: cid}
}

// subszQuery is a parsed /subsz request. test keeps the subscriptions a
// message published on that subject would reach; filter keeps those whose
// subject contains the text, ignoring case (what a person types in the
// console's search box).
type subszQuery struct {
	page   pageParams
	list   bool
	test   string
	filter string
	acc    string // only this account's subscriptions, when set
}

func parseSubsz(v url.Values) (subszQuery, error) {
	var q subszQuery
	var err error
	if q.page, err = parsePage(v); err != nil {
		return q, err
	}
	if mode, err := parseSubsMode(v); err != nil {
		return q, err
	} else {
		q.list = mode != subsNone
	}
	q.acc = v.Get("acc")
	q.test = v.Get("test")
	if q.test != "" && !sublist.ValidPublishSubject([]byte(q.test)) {
		return q, fmt.Errorf("%w: test=%q is not a valid publish subject", errBadQuery, q.test)
	}
	q.filter = strings.ToLower(v.Get("filter"))
	if (q.test != "" || q.filter != "") && v.Get("subs") == "" {
		q.list = true // asking to filter is asking for the list
	}
	return q, nil
}

func (s *Server) subsz(q subszQuery) Subsz {
	sz := Subsz{ServerID: s.id, Now: time.Now(), SublistStats: sublistStats(s)}
	if !q.list {
		return sz
	}
	var all []SubDetail
	keep := func(subject string) bool {
		return (q.test == "" || subjectMatches(subject, q.test)) &&
			(q.filter == "" || strings.Contains(strings.ToLower(subject), q.filter))
	}
	for _, c := range s.Conns(true) {
		if q.acc != "" && c.Account != q.acc {
			continue
		}
		for _, sub := range c.Subs {
			if keep(sub.Subject) {
				all = append(all, subDetail(sub, c.CID))
			}
		}
	}
	// In-process subscriptions belong to no connection.
	s.Subscriptions(func(subject, queue string, cid uint64) bool {
		if cid == 0 && q.acc == "" && keep(subject) {
			all = append(all, SubDetail{Subject: subject, Queue: queue})
		}
		return true
	})
	slices.SortFunc(all, func(a, b SubDetail) int {
		return cmp.Or(cmp.Compare(a.CID, b.CID), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Sid, b.Sid))
	})
	lo, hi := q.page.bounds(len(all))
	sz.SubsList = &SubsList{Total: len(all), Offset: q.page.offset, Limit: q.page.limit, Subs: all[lo:hi]}
	if sz.Subs == nil {
		sz.Subs = []SubDetail{}
	}
	return sz
}

// subjectMatches reports whether a subscription on pattern (which may hold
// the * and > wildcards) receives a message published on literal subject.
func subjectMatches(pattern, subject string) bool {
	for {
		ptok, prest, pmore := strings.Cut(pattern, ".")
		stok, srest, smore := strings.Cut(subject, ".")
		switch {
		case ptok == ">":
			return true // > needs at least one token, and subject has one here
		case ptok != "*" && ptok != stok:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

func (s *Server) handleSubsz(w http.ResponseWriter, r *http.Request) {
	q, err := parseSubsz(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.subsz(q))
}
