package stream

import (
	"errors"

	"github.com/wisp-mq/wisp/stream/store"
)

// purgeRequest is the body of STREAM.PURGE: everything, or only subjects
// matching Filter; Seq removes messages below it, Keep keeps the newest.
type purgeRequest struct {
	Filter string `json:"filter,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Keep   uint64 `json:"keep,omitempty"`
}

type purgeResponse struct {
	apiResponse
	Success bool   `json:"success"`
	Purged  uint64 `json:"purged"`
}

func (svc *Service) purgeStream(name string, body []byte) any {
	var req purgeRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamPurge, e)
	}
	if req.Seq > 0 && req.Keep > 0 || req.Filter != "" && !validSubject(req.Filter) {
		return errResponse(typeStreamPurge, apiErr(errBadRequest))
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamPurge, apiErr(errStreamNotFound))
	}
	res, err := s.propose(&opPurge{Filter: req.Filter, Seq: req.Seq, Keep: req.Keep}, "", true)
	if err != nil {
		return errResponse(typeStreamPurge, apiErr(errStreamPurge, err))
	}
	if res.err != nil {
		return errResponse(typeStreamPurge, res.err)
	}
	s.afterPurge()
	purged := res.purged
	return &purgeResponse{apiResponse{Type: typeStreamPurge}, true, purged}
}

// purge removes what req selects and returns how many messages went. A
// whole-stream purge is two range deletions whatever the stream's size;
// the others remove message by message through the subject index.
func (s *stream) purge(b *store.Batch, req *purgeRequest) (uint64, error) {
	before := s.state.msgs
	if req.Filter == ">" {
		req.Filter = ""
	}
	switch {
	case req.Filter == "" && req.Seq == 0 && req.Keep == 0:
		if err := b.DeleteAllMsgs(s.id); err != nil {
			return 0, err
		}
		if err := b.SetLastSeq(s.id, s.state.last, s.state.lastTime); err != nil {
			return 0, err
		}
		s.countBytes(-int64(s.state.bytes))
		s.state.msgs, s.state.bytes = 0, 0
		s.state.first, s.state.firstTime = s.state.last+1, 0
		clear(s.subjects)
	case req.Filter == "":
		for s.state.msgs > 0 && (req.Keep > 0 && s.state.msgs > req.Keep || req.Seq > 0 && s.state.first < req.Seq) {
			if err := s.removeFirst(b); err != nil {
				return 0, err
			}
		}
	default:
		if err := s.purgeSubjects(b, req); err != nil {
			return 0, err
		}
	}
	return before - s.state.msgs, nil
}

// purgeSubjects removes the selected messages of every subject matching
// req.Filter; Keep counts per subject.
func (s *stream) purgeSubjects(b *store.Batch, req *purgeRequest) error {
	var subjects []string
	for subj := range s.subjects {
		if subjectMatches(req.Filter, subj) {
			subjects = append(subjects, subj)
		}
	}
	r := b.Reader()
	for _, subj := range subjects {
		var seqs []uint64
		err := r.SubjectSeqs(s.id, subj, 0, func(seq uint64) bool {
			if req.Seq > 0 && seq >= req.Seq {
				return false
			}
			seqs = append(seqs, seq)
			return true
		})
		if err != nil {
			return err
		}
		if req.Keep > 0 {
			seqs = seqs[:max(0, len(seqs)-int(min(req.Keep, uint64(len(seqs)))))]
		}
		for _, seq := range seqs {
			m, err := r.Msg(s.id, seq)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.removeMsg(b, m); err != nil {
				return err
			}
		}
	}
	return nil
}
