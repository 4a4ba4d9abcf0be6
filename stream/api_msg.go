package stream

import (
	"errors"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// msgGetRequest selects one message: by sequence, the last on a subject,
// or the first on a subject at or after a sequence.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	// Batched direct gets only (direct_batch.go).
	directBatchRequest
}

type storedMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

type msgGetResponse struct {
	apiResponse
	Message *storedMsg `json:"message,omitempty"`
}

func (svc *Service) msgGet(name string, body []byte) any {
	var req msgGetRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamMsgGet, e)
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamMsgGet, apiErr(errStreamNotFound))
	}
	m, e := s.find(&req)
	if e != nil {
		return errResponse(typeStreamMsgGet, e)
	}
	return &msgGetResponse{apiResponse: apiResponse{Type: typeStreamMsgGet}, Message: &storedMsg{
		Subject: string(m.Subject), Sequence: m.Seq, Header: m.Header, Data: m.Data, Time: unixTime(m.Time),
	}}
}

// find answers a get request from committed data.
func (s *stream) find(req *msgGetRequest) (*store.Msg, *APIError) {
	var seq uint64
	switch {
	case req.batched():
		return nil, apiErr(errBadRequest) // direct get only
	case req.LastFor != "" && req.NextFor == "" && req.Seq == 0:
		if !validSubject(req.LastFor) {
			return nil, apiErr(errBadRequest)
		}
		seq = s.lastSeqFor(req.LastFor)
	case req.NextFor != "" && req.LastFor == "":
		if !validSubject(req.NextFor) {
			return nil, apiErr(errBadRequest)
		}
		seq = s.nextSeqFor(req.NextFor, max(req.Seq, 1))
	case req.Seq > 0 && req.LastFor == "" && req.NextFor == "":
		seq = req.Seq
	default:
		return nil, apiErr(errBadRequest)
	}
	if seq == 0 {
		return nil, apiErr(errNoMessageFound)
	}
	if req.LastFor != "" {
		// Found in the subject table, which its publish updated before
		// its batch committed: read it once it is there. Taken after the
		// table was read, the batch is at least the one that changed it.
		// (nextSeqFor's sequence comes from the store's index, committed.)
		s.st.AwaitCommitted(s.st.LastBatch())
	}
	m, err := s.st.Reader().Msg(s.id, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiErr(errNoMessageFound)
	}
	if err != nil {
		return nil, apiErr(errGeneral, err)
	}
	return m, nil
}

// lastSeqFor is the newest sequence on a subject or pattern, 0 for none.
// The subject table knows it without reading the disk.
func (s *stream) lastSeqFor(filter string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !hasWildcard(filter) {
		if ss := s.subjects[filter]; ss != nil {
			return ss.last
		}
		return 0
	}
	var last uint64
	for subj, ss := range s.subjects {
		if ss.last > last && subjectMatches(filter, subj) {
			last = ss.last
		}
	}
	return last
}

// nextSeqFor is the first sequence at or after from on a subject or
// pattern, read from the subject index; 0 for none.
func (s *stream) nextSeqFor(filter string, from uint64) uint64 {
	s.mu.RLock()
	var subjects []string
	for subj, ss := range s.subjects {
		if ss.last >= from && (subj == filter || subjectMatches(filter, subj)) {
			subjects = append(subjects, subj)
		}
	}
	s.mu.RUnlock()
	r := s.st.Reader()
	var best uint64
	for _, subj := range subjects {
		_ = r.SubjectSeqs(s.id, subj, from, func(seq uint64) bool {
			if best == 0 || seq < best {
				best = seq
			}
			return false
		})
	}
	return best
}

type msgDeleteRequest struct {
	Seq     uint64 `json:"seq"`
	NoErase bool   `json:"no_erase,omitempty"`
}

func (svc *Service) msgDelete(name string, body []byte) any {
	var req msgDeleteRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamMsgDelete, e)
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamMsgDelete, apiErr(errStreamNotFound))
	}
	res, err := s.propose(&opDeleteMsg{Seq: req.Seq}, "", true)
	if err != nil {
		return errResponse(typeStreamMsgDelete, storeErr(errMsgDeleteFailed, err))
	}
	if res.err != nil {
		return errResponse(typeStreamMsgDelete, res.err)
	}
	return &successResponse{apiResponse{Type: typeStreamMsgDelete}, true}
}

// directGet answers $JS.API.DIRECT.GET.<stream>[.<subject>] with the
// message itself (headers say where it came from) instead of JSON. A
// stream that does not allow direct gets answers "503", the status a
// client reads as "no responders", as if nobody listened there.
func (svc *Service) directGet(rest, reply string, body []byte) {
	name, subj, _ := strings.Cut(rest, ".")
	send := func(hdr, data []byte) {
		_ = svc.broker.Publish(reply, "", hdr, data)
	}
	s := svc.lookup(name)
	if s == nil || !s.allowsDirect() {
		// A caught-up mirror with mirror_direct answers for its origin
		// (origin_local.go), as nats-server's do.
		if s = svc.directMirror(name); s == nil {
			send(statusHeader("503"), nil)
			return
		}
	}
	var req msgGetRequest
	if subj != "" {
		req.LastFor = subj
	} else if e := decodeRequest(body, &req); e != nil {
		svc.apiErrors.Add(1)
		send(statusHeader("408 Bad Request"), nil)
		return
	}
	if req.batched() {
		s.directBatch(&req, send)
		return
	}
	m, e := s.find(&req)
	if e != nil {
		svc.apiErrors.Add(1)
		if e.ErrCode == errTable[errNoMessageFound].ErrCode {
			send(statusHeader("404 Message Not Found"), nil)
		} else {
			send(statusHeader("408 Bad Request"), nil)
		}
		return
	}
	send(directGetHeader(s.name, m.Subject, m.Seq, m.Time, m.Header), m.Data)
}

func (s *stream) allowsDirect() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg.AllowDirect
}
