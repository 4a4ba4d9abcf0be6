package server

// Browsing a stream's messages: one page at a time, each message fetched
// with the API's STREAM.MSG.GET (next_by_subj from a sequence), so a page
// costs as many point reads as it shows, whatever the stream's size. A
// start time is found by binary search over sequences, the same reads
// again: a few dozen for any stream.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	defaultMessagePage = 25
	maxMessagePage     = 200
)

// storedMessage is a message as STREAM.MSG.GET returns it.
type storedMessage struct {
	Subject string    `json:"subject"`
	Seq     uint64    `json:"seq"`
	Header  []byte    `json:"hdrs,omitempty"`
	Data    []byte    `json:"data,omitempty"`
	Time    time.Time `json:"time"`
}

type msgGetAnswer struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
	Message *storedMessage `json:"message,omitempty"`
}

// errCodeNoMessage is the API's "no message found" (10037).
const errCodeNoMessage = 10037

// messagePage is the answer of GET /console/api/messages.
type messagePage struct {
	Messages []storedMessage `json:"messages"`
	// Next is the sequence to ask for the following page, 0 at the end.
	Next uint64 `json:"next"`
}

// messageQuery is what GET /console/api/messages asks for.
type messageQuery struct {
	account, stream, subject string
	seq                      uint64
	since                    time.Time // zero: by sequence
	limit                    int
}

func parseMessageQuery(q url.Values) (messageQuery, error) {
	m := messageQuery{account: accountOrGlobal(q.Get("account")), stream: q.Get("stream"), subject: q.Get("subject"), limit: defaultMessagePage}
	if m.stream == "" {
		return m, fmt.Errorf("%w: stream is required", errBadQuery)
	}
	if m.subject == "" {
		m.subject = ">"
	}
	if v := q.Get("seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return m, fmt.Errorf("%w: seq=%q is not a sequence number", errBadQuery, v)
		}
		m.seq = n
	}
	if v := q.Get("time"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return m, fmt.Errorf("%w: time=%q is not an RFC 3339 time", errBadQuery, v)
		}
		m.since = t
	}
	n, err := intParam(q, "limit", defaultMessagePage)
	if err != nil {
		return m, err
	}
	m.limit = min(max(n, 1), maxMessagePage)
	return m, nil
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request, _ *consoleSession, id *consoleIdentity) {
	q, err := parseMessageQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !s.permitted(w, id, q.account, "", false) {
		return
	}
	page, err := s.messagePage(q)
	if err != nil {
		var apiErr *msgGetError
		if errors.As(err, &apiErr) {
			writeError(w, http.StatusBadRequest, apiErr.Error())
			return
		}
		writeRequestError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// messagePage reads up to q.limit messages on q.subject from the start
// sequence (or the first at or after q.since).
func (s *Server) messagePage(q messageQuery) (*messagePage, error) {
	seq := max(q.seq, 1)
	if !q.since.IsZero() {
		var err error
		if seq, err = s.firstSeqSince(q, seq); err != nil {
			return nil, err
		}
	}
	page := &messagePage{Messages: []storedMessage{}}
	for len(page.Messages) < q.limit {
		m, err := s.nextMessage(q.account, q.stream, q.subject, seq)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return page, nil
		}
		page.Messages = append(page.Messages, *m)
		seq = m.Seq + 1
	}
	page.Next = seq
	return page, nil
}

// firstSeqSince finds the lowest sequence from lo whose message (on
// subject) is at or after q.since. Stored times rise with sequences.
func (s *Server) firstSeqSince(q messageQuery, lo uint64) (uint64, error) {
	hi := lo
	// Find an upper bound by doubling, so no stream info is needed.
	for step := uint64(1); ; step *= 2 {
		m, err := s.nextMessage(q.account, q.stream, ">", hi)
		if err != nil {
			return 0, err
		}
		if m == nil || !m.Time.Before(q.since) {
			break
		}
		lo = m.Seq + 1
		hi = m.Seq + step
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := s.nextMessage(q.account, q.stream, ">", mid)
		if err != nil {
			return 0, err
		}
		if m == nil || !m.Time.Before(q.since) {
			hi = mid
		} else {
			lo = m.Seq + 1
		}
	}
	return lo, nil
}

// nextMessage is the first message on subject at or after seq, nil when
// there is none.
func (s *Server) nextMessage(account, stream, subject string, seq uint64) (*storedMessage, error) {
	req, _ := json.Marshal(map[string]any{"seq": seq, "next_by_subj": subject})
	raw, err := s.request(account, "$JS.API.STREAM.MSG.GET."+stream, nil, req, jsRequestTimeout)
	if err != nil {
		return nil, err
	}
	var a msgGetAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decoding STREAM.MSG.GET answer: %w", err)
	}
	if a.Error != nil {
		if a.Error.ErrCode == errCodeNoMessage {
			return nil, nil
		}
		return nil, &msgGetError{code: a.Error.ErrCode, desc: a.Error.Description}
	}
	return a.Message, nil
}

// msgGetError is an error the API answered (no such stream, bad subject).
type msgGetError struct {
	code int
	desc string
}

func (e *msgGetError) Error() string { return fmt.Sprintf("%s (%d)", e.desc, e.code) }
