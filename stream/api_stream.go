package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/stream/store"
)

type streamInfoResponse struct {
	apiResponse
	apiPaged
	*StreamInfo
}

func (svc *Service) infoResponse(typ string, si *StreamInfo) *streamInfoResponse {
	svc.addServerMetadata(si.Config.Metadata)
	r := &streamInfoResponse{apiResponse: apiResponse{Type: typ}, StreamInfo: si}
	if n := len(si.State.Subjects); n > 0 {
		r.apiPaged = apiPaged{Total: n, Limit: n}
	}
	return r
}

// streamConfigRequest is the body of STREAM.CREATE and STREAM.UPDATE: the
// config, and a flag that belongs to the request, not the stream.
type streamConfigRequest struct {
	Config
	Pedantic bool `json:"pedantic,omitempty"`
}

// parseConfig decodes and normalises a create or update request for the
// stream named in the subject.
func parseConfig(typ, name string, body []byte) (*Config, *apiResponse) {
	if !validName(name) {
		return nil, errResponse(typ, apiErr(errStreamNameInvalid))
	}
	req := &streamConfigRequest{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, errResponse(typ, apiErr(errInvalidJSON, "request body is empty"))
	}
	if e := decodeConfigRequest(body, req); e != nil {
		return nil, errResponse(typ, e)
	}
	if req.Pedantic {
		return nil, errResponse(typ, apiErr(errStreamUnsupported, `"pedantic" mode`))
	}
	cfg := &req.Config
	if cfg.Name == "" {
		cfg.Name = name
	}
	if cfg.Name != name {
		return nil, errResponse(typ, apiErr(errStreamMismatch))
	}
	cfg.setDefaults()
	if e := cfg.validate(); e != nil {
		return nil, errResponse(typ, e)
	}
	return cfg, nil
}

// sameConfig compares configs as they would be stored, so that a config
// that went through a restart still equals the request that made it. The
// version metadata keys are not part of a config (version_metadata.go).
func sameConfig(a, b *Config) bool {
	ca, cb := *a, *b
	ca.Metadata, cb.Metadata = withoutVersionMetadata(a.Metadata), withoutVersionMetadata(b.Metadata)
	ja, err1 := json.Marshal(&ca)
	jb, err2 := json.Marshal(&cb)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// overlapping reports whether any of subjects is captured by a stream other
// than self. Called with svc.mu held.
func (svc *Service) overlapping(self string, subjects []string) bool {
	for name, other := range svc.streams {
		if name == self {
			continue
		}
		for _, a := range other.cfg.Subjects {
			for _, b := range subjects {
				if subjectsCollide(a, b) {
					return true
				}
			}
		}
	}
	return false
}

func (svc *Service) createStream(name string, body []byte) any {
	cfg, bad := parseConfig(typeStreamCreate, name, body)
	if bad != nil {
		return bad
	}
	if cfg.Sealed {
		return errResponse(typeStreamCreate, apiErr(errStreamInvalidConfig, "stream configuration for create can not be sealed"))
	}
	if cfg.Replicas > 1 {
		// A clustered server places replicated streams (handleCluster).
		return errResponse(typeStreamCreate, apiErr(errStreamReplicasNotSupported))
	}
	// Deferred before the unlock, so it runs after it (advisory.go).
	created, placed := false, false
	defer func() {
		if created {
			svc.streamAdvisory(name, actionCreate)
		} else if placed {
			svc.unplaceLocal(name)
		}
	}()
	if cl := svc.clusterOf(); cl != nil {
		// Every stream of a cluster is the meta group's: its name and
		// subjects are taken there first (checked before taking the lock).
		var e *APIError
		if placed, e = svc.placeLocal(cl, cfg); e != nil {
			return errResponse(typeStreamCreate, e)
		}
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if e := svc.checkLocalOrigins(cfg); e != nil {
		return errResponse(typeStreamCreate, e)
	}
	if s := svc.streams[name]; s != nil {
		// Creating again with the same config is a no-op, as in nats-server.
		s.mu.RLock()
		same := sameConfig(&s.cfg, cfg)
		s.mu.RUnlock()
		if !same {
			return errResponse(typeStreamCreate, apiErr(errStreamNameExist))
		}
		// Placed by this create, and made from the placement meanwhile
		// (replication's OpenLocal): this create's stream.
		created = placed
		return svc.infoResponse(typeStreamCreate, s.info(""))
	}
	if svc.overlapping(name, cfg.Subjects) {
		return errResponse(typeStreamCreate, apiErr(errStreamSubjectOverlap))
	}
	if e := svc.checkReservation(name, cfg); e != nil {
		return errResponse(typeStreamCreate, e)
	}
	s, e := svc.createLocked(cfg, svc.clock.Now())
	if e != nil {
		return errResponse(typeStreamCreate, e)
	}
	created = true
	return svc.infoResponse(typeStreamCreate, s.info(""))
}

// createLocked creates a stream without a raft group and subscribes it
// to its subjects. Called with svc.mu held.
func (svc *Service) createLocked(cfg *Config, now time.Time) (*stream, *APIError) {
	name := cfg.Name
	v, err := json.Marshal(cfg)
	if err != nil {
		return nil, apiErr(errStreamCreate, err)
	}
	st := svc.storeFor(cfg.Storage)
	res, err := svc.proposeCreate(st, &opStreamCreate{Created: now.UnixNano(), Config: v}, 0)
	if err != nil {
		return nil, storeErr(errStreamCreate, err)
	}
	if res.err != nil {
		return nil, res.err
	}
	s := res.stream
	if err := svc.subscribe(s, cfg.Subjects); err != nil {
		svc.unsubscribeAll(s)
		if _, derr := s.propose(&opStreamDelete{}, "", true); derr != nil {
			svc.log.Error("removing a stream that failed to subscribe failed", "stream", name, "err", derr)
		}
		return nil, apiErr(errStreamCreate, err)
	}
	svc.streams[name] = s
	return s, nil
}

func (svc *Service) updateStream(name string, body []byte) any {
	cfg, bad := parseConfig(typeStreamUpdate, name, body)
	if bad != nil {
		return bad
	}
	// updated: the update was applied; undo: the meta group recorded it
	// (checkSubjects) and it was not applied, so the config before it is
	// recorded back. Both are recorded after svc.mu is released, before
	// updateMu is (deferred first, runs last). token: the meta group
	// recorded the update; when how it ended cannot be recorded (it may
	// or may not apply, or the meta group did not answer), it is given
	// up, and the stream's leader records the stream's config once its
	// log has settled (replication/settle.go).
	updated, undo, scaled := false, false, false
	var recorded, before []byte
	var token string
	cl := svc.clusterOf()
	if cl != nil {
		svc.updateMu.Lock()
		defer svc.updateMu.Unlock()
	}
	defer func() {
		ended := false
		switch {
		case updated:
			ended = svc.recordConfig(name, recorded)
			svc.streamAdvisory(name, actionModify)
		case undo:
			ended = svc.recordConfig(name, before)
		}
		if token != "" && !ended {
			cl.AbandonConfig(name, token)
		}
	}()
	if s := svc.lookup(name); cl != nil && s != nil {
		// Streams on other servers, as on create: the early answer.
		if e := svc.clusterConflict(cl, name, cfg.Subjects, false); e != nil {
			return errResponse(typeStreamUpdate, e)
		}
		s.mu.RLock()
		old := s.cfg
		s.mu.RUnlock()
		if e := checkUpdate(&old, cfg); e != nil {
			return errResponse(typeStreamUpdate, e)
		}
		// The decision: new subjects are taken in the meta log first.
		var e *APIError
		token, e = svc.checkSubjects(cl, name, &old, cfg)
		if e != nil {
			return errResponse(typeStreamUpdate, e)
		}
		if token != "" {
			if before, _ = json.Marshal(&old); before != nil {
				undo = true
			}
		}
		if old.Replicas != cfg.Replicas {
			// The servers change first, then the config says so: a change
			// cut short is finished by asking again.
			if e := svc.scaleStream(cl, s, old.Replicas, cfg.Replicas); e != nil {
				return errResponse(typeStreamUpdate, e)
			}
			scaled = true
		}
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	s := svc.streams[name]
	if s == nil {
		return errResponse(typeStreamUpdate, apiErr(errStreamNotFound))
	}
	s.mu.RLock()
	old := s.cfg
	s.mu.RUnlock()
	if e := svc.checkLocalOrigins(cfg); e != nil {
		return errResponse(typeStreamUpdate, e)
	}
	if e := checkUpdate(&old, cfg); e != nil {
		return errResponse(typeStreamUpdate, e)
	}
	if old.Replicas != cfg.Replicas && !scaled {
		if svc.cluster == nil && cfg.Replicas > 1 { // svc.mu is held
			return errResponse(typeStreamUpdate, apiErr(errStreamReplicasNotSupported))
		}
		return errResponse(typeStreamUpdate, apiErr(errStreamReplicasNotUpdatable))
	}
	if svc.overlapping(name, cfg.Subjects) {
		return errResponse(typeStreamUpdate, apiErr(errStreamSubjectOverlap))
	}
	if e := svc.checkReservation(name, cfg); e != nil {
		return errResponse(typeStreamUpdate, e)
	}
	v, err := json.Marshal(cfg)
	if err != nil {
		return errResponse(typeStreamUpdate, storeErr(errStreamUpdate, err))
	}
	// The age cut-off is decided here, before the update is applied.
	res, err := s.propose(&opStreamUpdate{Now: svc.clock.Now().UnixNano(), Config: v}, "", false)
	if err != nil {
		// Unless it was refused before it was proposed, whether it applies
		// is not known (a replicated stream's entry may still commit): the
		// update is given up (above), and the meta group keeps the old and
		// the new subjects reserved until the stream's leader settles it.
		undo = undo && errors.Is(err, store.ErrNotApplied) && !outcomeUnknown(err)
		return errResponse(typeStreamUpdate, apiErr(errStreamUpdate, err))
	}
	if res.err != nil {
		return errResponse(typeStreamUpdate, res.err)
	}
	if err := svc.resubscribe(s, cfg.Subjects); err != nil {
		undo = false // applied, and given up: settled as above
		return errResponse(typeStreamUpdate, apiErr(errStreamUpdate, err))
	}
	updated, recorded = true, v
	return svc.infoResponse(typeStreamUpdate, s.info(""))
}

// outcomeUnknown reports whether a failed proposal of a replicated
// stream was made and may still commit (a replica fails every proposal
// that did not apply with store.ErrNotApplied, those refused before
// they were proposed and those whose leader lost its leadership alike).
func outcomeUnknown(err error) bool {
	return errors.Is(err, consensus.ErrLeadershipLost) || errors.Is(err, consensus.ErrStorageFailed) ||
		errors.Is(err, consensus.ErrStopped)
}

// scaleStream changes a replicated stream's replica count on its
// leader (Cluster.ScaleStream) before the update that records it is
// applied. A stream with one replica, or a replicated one going to one,
// keeps its count: 10061.
func (svc *Service) scaleStream(cl Cluster, s *stream, from, to int) *APIError {
	if s.repl == nil || from <= 1 || to <= 1 {
		return apiErr(errStreamReplicasNotUpdatable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cl.ScaleStream(ctx, s.name, s.group, to)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoPeers):
		return apiErr(errClusterNoPeers)
	case errors.Is(err, ErrLeaderMoved):
		// Sent on to the new leader (retryNotLeader), which goes on
		// from the peers recorded.
		return apiErr(errStreamUpdate, errNotLeader)
	}
	svc.log.Warn("changing a stream's replica count failed; asking again goes on from where it stopped",
		"stream", s.name, "from", from, "to", to, "err", err)
	return apiErr(errClusterNotAvail)
}

type streamInfoRequest struct {
	apiPaged
	DeletedDetails bool   `json:"deleted_details"`
	SubjectsFilter string `json:"subjects_filter"`
}

func (svc *Service) streamInfo(name string, body []byte) any {
	var req streamInfoRequest
	if e := decodeRequest(body, &req); e != nil {
		return errResponse(typeStreamInfo, e)
	}
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typeStreamInfo, apiErr(errStreamNotFound))
	}
	si := s.info(req.SubjectsFilter)
	if si.Cluster == nil && svc.serverName != "" {
		// A server that is not clustered names itself the leader of
		// its streams in STREAM.INFO (and only there).
		si.Cluster = &ClusterInfo{Leader: svc.serverName}
	}
	r := svc.infoResponse(typeStreamInfo, si)
	if req.SubjectsFilter != "" {
		// All matching subjects fit one reply; say so to a paging client.
		r.apiPaged = apiPaged{Total: len(si.State.Subjects), Offset: 0, Limit: len(si.State.Subjects)}
	}
	return r
}

type successResponse struct {
	apiResponse
	Success bool `json:"success"`
}

func (svc *Service) deleteStream(name string) any {
	// Each consumer's deletion is announced before the stream's, as
	// nats-server does.
	deleted, consumers := false, []string(nil)
	defer func() {
		if deleted {
			for _, c := range consumers {
				svc.consumerAdvisory(name, c, actionDelete)
			}
			svc.streamAdvisory(name, actionDelete)
		}
	}()
	svc.mu.Lock()
	defer svc.mu.Unlock()
	s := svc.streams[name]
	if s == nil {
		return errResponse(typeStreamDelete, apiErr(errStreamNotFound))
	}
	var err error
	if consumers, err = svc.deleteLocked(s); err != nil {
		return errResponse(typeStreamDelete, storeErr(errStreamDelete, err))
	}
	deleted = true
	return &successResponse{apiResponse{Type: typeStreamDelete}, true}
}

// deleteLocked deletes a stream without a raft group, returning its
// consumers' names. Called with svc.mu held.
func (svc *Service) deleteLocked(s *stream) ([]string, error) {
	svc.unsubscribeAll(s)
	res, err := s.propose(&opStreamDelete{}, "", true)
	if err == nil && res.err != nil {
		err = errors.New(res.err.Description)
	}
	if err != nil {
		_ = svc.subscribe(s, s.cfg.Subjects)
		return nil, err
	}
	delete(svc.streams, s.name)
	return s.stopConsumers(), nil
}

type namesRequest struct {
	Offset  int    `json:"offset"`
	Subject string `json:"subject"`
}

type namesResponse struct {
	apiResponse
	apiPaged
	Streams []string `json:"streams"`
}

type listResponse struct {
	apiResponse
	apiPaged
	Streams []*StreamInfo `json:"streams"`
	Missing []string      `json:"missing,omitempty"`
}

// Page sizes, as nats-server's: names are cheap, infos less so.
const (
	namesPageSize = 1024
	listPageSize  = 256
)

// matchingStreams returns, in name order, the streams that capture some
// subject matching filter (all streams for an empty filter), and the page
// starting at offset.
func (svc *Service) matchingStreams(body []byte) (all int, page []*stream, offset int, e *APIError) {
	var req namesRequest
	if e := decodeRequest(body, &req); e != nil {
		return 0, nil, 0, e
	}
	if req.Subject != "" && !validSubject(req.Subject) {
		return 0, nil, 0, apiErr(errBadRequest)
	}
	var matched []*stream
	for _, s := range svc.sortedStreams() {
		if req.Subject == "" || s.captures(req.Subject) {
			matched = append(matched, s)
		}
	}
	offset = min(max(req.Offset, 0), len(matched))
	return len(matched), matched[offset:], offset, nil
}

// captures reports whether some subject of s collides with filter.
func (s *stream) captures(filter string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, subj := range s.cfg.Subjects {
		if subjectsCollide(subj, filter) {
			return true
		}
	}
	return false
}

func (svc *Service) streamNames(body []byte) any {
	total, page, offset, e := svc.matchingStreams(body)
	if e != nil {
		return errResponse(typeStreamNames, e)
	}
	page = page[:min(len(page), namesPageSize)]
	r := &namesResponse{apiResponse: apiResponse{Type: typeStreamNames},
		apiPaged: apiPaged{Total: total, Offset: offset, Limit: namesPageSize}, Streams: []string{}}
	for _, s := range page {
		r.Streams = append(r.Streams, s.name)
	}
	return r
}

func (svc *Service) streamList(body []byte) any {
	total, page, offset, e := svc.matchingStreams(body)
	if e != nil {
		return errResponse(typeStreamList, e)
	}
	page = page[:min(len(page), listPageSize)]
	r := &listResponse{apiResponse: apiResponse{Type: typeStreamList},
		apiPaged: apiPaged{Total: total, Offset: offset, Limit: listPageSize}, Streams: []*StreamInfo{}}
	for _, s := range page {
		r.Streams = append(r.Streams, s.info(""))
	}
	return r
}

// accountInfo answers $JS.API.INFO: usage and (unlimited) limits.
type accountInfoResponse struct {
	apiResponse
	Memory         uint64        `json:"memory"`
	Store          uint64        `json:"storage"`
	ReservedMemory uint64        `json:"reserved_memory"`
	ReservedStore  uint64        `json:"reserved_storage"`
	Streams        int           `json:"streams"`
	Consumers      int           `json:"consumers"`
	Limits         accountLimits `json:"limits"`
	Domain         string        `json:"domain,omitempty"`
	API            apiStats      `json:"api"`
}

type accountLimits struct {
	MaxMemory            int64 `json:"max_memory"`
	MaxStore             int64 `json:"max_storage"`
	MaxStreams           int   `json:"max_streams"`
	MaxConsumers         int   `json:"max_consumers"`
	MaxAckPending        int   `json:"max_ack_pending"`
	MemoryMaxStreamBytes int64 `json:"memory_max_stream_bytes"`
	StoreMaxStreamBytes  int64 `json:"storage_max_stream_bytes"`
	MaxBytesRequired     bool  `json:"max_bytes_required"`
}

type apiStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

func (svc *Service) accountInfo() *accountInfoResponse {
	st := svc.Stats()
	maxMem, maxStore := svc.limit(MemoryStorage), svc.limit(FileStorage)
	return &accountInfoResponse{
		apiResponse: apiResponse{Type: typeAccountInfo},
		Memory:      st.Memory, Store: st.Storage,
		Streams: len(st.Streams), Consumers: st.Consumers,
		Limits: accountLimits{MaxMemory: maxMem, MaxStore: maxStore, MaxStreams: -1, MaxConsumers: -1,
			MaxAckPending: -1, MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1},
		API: apiStats{Level: APILevel, Total: st.APITotal, Errors: st.APIErrors},
	}
}
