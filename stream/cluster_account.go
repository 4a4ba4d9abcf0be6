package stream

import (
	"encoding/json"
	"slices"
)

// The requests about the whole account, answered on a clustered server
// from what every server holds (cluster_gather.go): the names and infos
// of every stream of the account, wherever its replicas are, and the
// account's usage. Paging and the subject filter work as on one server.

// clusterMatching returns the account's streams whose subjects collide
// with the request's filter (all for none), in name order, with the
// page from the request's offset on.
func (svc *Service) clusterMatching(cl Cluster, body []byte, infos bool) (all map[string]*clusterStream, total int, page []string, offset int, e *APIError) {
	var req namesRequest
	if e := decodeRequest(body, &req); e != nil {
		return nil, 0, nil, 0, e
	}
	if req.Subject != "" && !validSubject(req.Subject) {
		return nil, 0, nil, 0, apiErr(errBadRequest)
	}
	all, _ = svc.accountStreams(cl, heldQuery{Infos: infos})
	var names []string
	for name, cs := range all {
		if req.Subject == "" || collidesAny(cs.subjects, req.Subject) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	offset = min(max(req.Offset, 0), len(names))
	return all, len(names), names[offset:], offset, nil
}

// collidesAny reports whether one of subjects collides with filter.
func collidesAny(subjects []string, filter string) bool {
	for _, s := range subjects {
		if subjectsCollide(s, filter) {
			return true
		}
	}
	return false
}

func (svc *Service) clusterStreamNames(cl Cluster, body []byte) any {
	_, total, page, offset, e := svc.clusterMatching(cl, body, false)
	if e != nil {
		return errResponse(typeStreamNames, e)
	}
	page = page[:min(len(page), namesPageSize)]
	return &namesResponse{apiResponse: apiResponse{Type: typeStreamNames},
		apiPaged: apiPaged{Total: total, Offset: offset, Limit: namesPageSize}, Streams: append([]string{}, page...)}
}

// clusterListResponse is STREAM.LIST's reply with the infos as their
// leaders sent them.
type clusterListResponse struct {
	apiResponse
	apiPaged
	Streams []json.RawMessage `json:"streams"`
	Missing []string          `json:"missing,omitempty"`
}

func (svc *Service) clusterStreamList(cl Cluster, body []byte) any {
	all, total, page, offset, e := svc.clusterMatching(cl, body, true)
	if e != nil {
		return errResponse(typeStreamList, e)
	}
	page = page[:min(len(page), listPageSize)]
	r := &clusterListResponse{apiResponse: apiResponse{Type: typeStreamList},
		apiPaged: apiPaged{Total: total, Offset: offset, Limit: listPageSize}, Streams: []json.RawMessage{}}
	for _, name := range page {
		if info := all[name].info; info != nil {
			r.Streams = append(r.Streams, info)
		} else {
			r.Missing = append(r.Missing, name) // no leader answered
		}
	}
	return r
}

// clusterAccountInfo is $JS.API.INFO on a clustered server: the
// account's streams and consumers wherever they are, and the bytes every
// server's stores hold for it.
func (svc *Service) clusterAccountInfo(cl Cluster) any {
	all, replies := svc.accountStreams(cl, heldQuery{})
	r := svc.accountInfo()
	r.Memory, r.Store, r.Streams, r.Consumers = 0, 0, len(all), 0
	for _, rep := range replies {
		r.Memory += rep.Memory
		r.Store += rep.Storage
	}
	for _, cs := range all {
		r.Consumers += cs.consumers
	}
	return r
}

// clusterConflict refuses a stream config that conflicts with another
// stream of the account as the meta group records them (every stream of
// a cluster is its assignment, with its config as placed or last
// updated), whether its servers are up or not: on create, a stream of
// that name (10058); then a subject colliding with one of another stream
// (10065). It is the early answer: the placement itself is checked again
// where it applies in the meta group's log, so that racing creates
// cannot both pass (cluster_r1.go), and so is an update that adds
// subjects (checkSubjects).
func (svc *Service) clusterConflict(cl Cluster, self string, subjects []string, create bool) *APIError {
	for _, name := range cl.Assigned() {
		if name == self {
			if create {
				return apiErr(errStreamNameExist)
			}
			continue
		}
		var cfg struct {
			Subjects []string `json:"subjects"`
		}
		if json.Unmarshal(cl.AssignedConfig(name), &cfg) != nil {
			continue
		}
		for _, subj := range subjects {
			if collidesAny(cfg.Subjects, subj) {
				return apiErr(errStreamSubjectOverlap)
			}
		}
	}
	return nil
}
