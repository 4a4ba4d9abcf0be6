package stream

import (
	"encoding/json"
	"strings"
)

// The consumer half of the JetStream API: CONSUMER.CREATE (with and
// without a filter token), the legacy CONSUMER.DURABLE.CREATE,
// CONSUMER.INFO, CONSUMER.DELETE, CONSUMER.NAMES, CONSUMER.LIST,
// CONSUMER.PAUSE (pause.go), CONSUMER.RESET (reset.go) and
// CONSUMER.UNPIN (priority.go).
// CONSUMER.MSG.NEXT is not a JSON call; pull.go takes it.

const (
	typeConsumerCreate = typePrefix + "consumer_create_response"
	typeConsumerInfo   = typePrefix + "consumer_info_response"
	typeConsumerDelete = typePrefix + "consumer_delete_response"
	typeConsumerNames  = typePrefix + "consumer_names_response"
	typeConsumerList   = typePrefix + "consumer_list_response"
)

// routeConsumer answers an API subject (without the prefix) starting with
// "CONSUMER.".
func (svc *Service) routeConsumer(rest string, body []byte) any {
	rest = strings.TrimPrefix(rest, "CONSUMER.")
	verb, args, _ := strings.Cut(rest, ".")
	if verb == "DURABLE" {
		a, ok := strings.CutPrefix(args, "CREATE.")
		stream, name, _ := strings.Cut(a, ".")
		if !ok || stream == "" || name == "" || strings.Contains(name, ".") {
			return errResponse(typeConsumerCreate, apiErr(errBadRequest))
		}
		return svc.createConsumer(stream, name, "", true, body)
	}
	if sc, ok := strings.CutPrefix(rest, "LEADER.STEPDOWN."); ok {
		// A clustered server answers it before here (cluster_api.go);
		// this one has no leaders to move.
		if stream, name, _ := strings.Cut(sc, "."); stream != "" && name != "" && !strings.Contains(name, ".") {
			return errResponse(typeConsumerStepDown, apiErr(errClusterRequired))
		}
	}
	stream, tail, _ := strings.Cut(args, ".")
	if stream == "" {
		return errResponse(typeUnknownAPIRequest, apiErr(errBadRequest))
	}
	switch verb {
	case "CREATE":
		name, filter, _ := strings.Cut(tail, ".")
		return svc.createConsumer(stream, name, filter, false, body)
	case "INFO", "DELETE", "PAUSE", "RESET", "UNPIN":
		if tail == "" || strings.Contains(tail, ".") {
			return errResponse(typeConsumerInfo, apiErr(errBadRequest))
		}
		switch verb {
		case "INFO":
			return svc.consumerInfo(stream, tail)
		case "PAUSE":
			return svc.pauseConsumer(stream, tail, body)
		case "RESET":
			return svc.resetConsumer(stream, tail, body)
		case "UNPIN":
			return svc.unpinConsumer(stream, tail, body)
		}
		return svc.deleteConsumer(stream, tail)
	case "NAMES":
		return svc.consumerNames(stream, body)
	case "LIST":
		return svc.consumerList(stream, body)
	}
	return errResponse(typeUnknownAPIRequest, apiErr(errBadRequest))
}

type consumerCreateRequest struct {
	Stream string          `json:"stream_name"`
	Config *ConsumerConfig `json:"config"`
	Action string          `json:"action"`
	// Pedantic asks the server to refuse rather than fill in defaults;
	// Wisp refuses the request instead (see ConsumerConfig.validate).
	Pedantic bool `json:"pedantic,omitempty"`
}

type consumerInfoResponse struct {
	apiResponse
	*ConsumerInfo
}

func (svc *Service) consumerResponse(typ string, ci *ConsumerInfo) *consumerInfoResponse {
	svc.addServerMetadata(ci.Config.Metadata)
	return &consumerInfoResponse{apiResponse{Type: typ}, ci}
}

// createConsumer handles every create form. name is the consumer name
// from the subject ("" for an unnamed ephemeral), filter the filter
// subject token(s) after it.
func (svc *Service) createConsumer(streamName, name, filter string, legacyDurable bool, body []byte) any {
	fail := func(e *APIError) any { return errResponse(typeConsumerCreate, e) }
	var req consumerCreateRequest
	if e := decodeConfigRequest(body, &req); e != nil {
		return fail(e)
	}
	if req.Config == nil {
		return fail(apiErr(errConsumerCreate, "consumer config required"))
	}
	if req.Pedantic {
		return fail(apiErr(errConsumerUnsupported, `"pedantic" mode`))
	}
	if req.Stream != "" && req.Stream != streamName {
		return fail(apiErr(errStreamMismatch))
	}
	s := svc.lookup(streamName)
	if s == nil {
		return fail(apiErr(errStreamNotFound))
	}
	cfg := req.Config
	switch {
	case legacyDurable:
		if cfg.Durable == "" {
			return fail(apiErr(errConsumerDurableNameNotInSubject))
		}
		if cfg.Durable != name {
			return fail(apiErr(errConsumerDurableNameNotMatch))
		}
	case name == "":
		if cfg.Durable != "" {
			return fail(apiErr(errConsumerEphemeralWithDurableName))
		}
	default:
		if cfg.Durable != "" && cfg.Durable != name || cfg.Name != "" && cfg.Name != name {
			return fail(apiErr(errConsumerDurableNameNotMatch))
		}
		if cfg.Name == "" {
			cfg.Name = name
		}
	}
	if filter != "" {
		if len(cfg.FilterSubjects) > 1 {
			return fail(apiErr(errConsumerMultipleFiltersNotAllowed))
		}
		f := cfg.FilterSubject
		if f == "" && len(cfg.FilterSubjects) == 1 {
			f = cfg.FilterSubjects[0]
		}
		if f != filter {
			return fail(apiErr(errConsumerFilterMismatch))
		}
	}
	s.mu.RLock()
	scfg := s.cfg
	s.mu.RUnlock()
	cfg.setDefaults(scfg.ConsumerLimits)
	serverNamed := cfg.Name == ""
	if serverNamed {
		cfg.Name = drawConsumerName()
	}
	if e := cfg.validate(&scfg); e != nil {
		return fail(e)
	}
	ci, e := svc.addOrUpdateConsumer(s, &scfg, cfg, req.Action, serverNamed)
	if e != nil {
		return fail(e)
	}
	return svc.consumerResponse(typeConsumerCreate, ci)
}

// addOrUpdateConsumer applies a validated config: creates the consumer,
// or updates (or confirms) an existing one, as action allows. A
// server-named consumer is always new: should its random name be taken, it
// draws another rather than touch the consumer that has it.
func (svc *Service) addOrUpdateConsumer(s *stream, scfg *Config, cfg *ConsumerConfig, action string, serverNamed bool) (*ConsumerInfo, *APIError) {
	// Deferred before the unlock, so it runs after it (advisory.go). An
	// update has no advisory, as in nats-server.
	created := false
	defer func() {
		if created {
			svc.consumerAdvisory(s.name, cfg.Name, actionCreate)
		}
	}()
	s.cons.mu.Lock()
	defer s.cons.mu.Unlock()
	for serverNamed && s.cons.byName[cfg.Name] != nil {
		cfg.Name = drawConsumerName()
	}
	if old := s.cons.byName[cfg.Name]; old != nil {
		old.mu.Lock()
		// Only CONSUMER.PAUSE changes the pause of an existing consumer.
		cfg.PauseUntil = old.cfg.PauseUntil
		same := sameConsumerConfig(&old.cfg, cfg)
		oldCfg := old.cfg
		old.mu.Unlock()
		switch {
		case same:
			return old.info(), nil
		case action == "create":
			return nil, apiErr(errConsumerExists)
		}
		if e := checkConsumerUpdate(&oldCfg, cfg); e != nil {
			return nil, e
		}
		if e := old.update(cfg); e != nil {
			return nil, e
		}
		return old.info(), nil
	}
	if action == "update" {
		return nil, apiErr(errConsumerDoesNotExist)
	}
	if scfg.MaxConsumers > 0 && len(s.cons.byName) >= scfg.MaxConsumers {
		return nil, apiErr(errMaxConsumers)
	}
	if scfg.Retention == RetentionWorkQueue {
		if e := checkWorkQueueConsumer(s.cons.byName, cfg); e != nil {
			return nil, e
		}
	}
	// Where it starts is decided here, from the stream as it is now.
	now := svc.clock.Now().UTC()
	c := newConsumer(s, cfg, now, now)
	next, lps := c.startPosition()
	v, err := json.Marshal(cfg)
	if err != nil {
		return nil, apiErr(errConsumerCreate, err)
	}
	res, err := s.propose(&opConsumerCreate{Created: now.UnixNano(), Config: v, Next: next, LPS: lps}, cfg.Name, false)
	if err != nil {
		return nil, storeErr(errConsumerStoreFailed, err)
	}
	if res.err != nil {
		return nil, res.err
	}
	c = res.cons
	c.est.Store(int64(c.countPending(c.position())))
	if err := c.start(); err != nil {
		// Its definition is stored: take it out again.
		if _, rerr := s.propose(&opConsumerRemove{}, c.name, true); rerr != nil {
			svc.log.Error("removing a consumer that failed to start failed", "stream", s.name, "consumer", c.name, "err", rerr)
		}
		return nil, storeErr(errConsumerCreate, err)
	}
	created = true
	return c.info(), nil
}

// checkWorkQueueConsumer enforces that a workqueue stream's consumers
// never share a message: one unfiltered consumer, or filtered ones that
// do not overlap.
func checkWorkQueueConsumer(existing map[string]*consumer, cfg *ConsumerConfig) *APIError {
	nf := cfg.filters()
	for _, o := range existing {
		of := *o.filt.Load()
		if len(nf) == 0 || len(of) == 0 {
			if len(nf) == 0 && len(of) == 0 {
				return apiErr(errConsumerWQMultipleUnfiltered)
			}
			return apiErr(errConsumerWQNotUnique)
		}
		for _, a := range nf {
			for _, b := range of {
				if subjectsCollide(a, b) {
					return apiErr(errConsumerWQNotUnique)
				}
			}
		}
	}
	return nil
}

// update applies a changed (and checked) config to a live consumer.
// Called with the stream's consumer set locked.
func (c *consumer) update(cfg *ConsumerConfig) *APIError {
	v, err := json.Marshal(cfg)
	if err != nil {
		return apiErr(errConsumerCreate, err)
	}
	res, err := c.s.propose(&opConsumerUpdate{Config: v}, c.name, false)
	if err != nil {
		return storeErr(errConsumerStoreFailed, err)
	}
	if res.err != nil {
		return res.err
	}
	c.est.Store(int64(c.countPending(c.position())))
	c.mu.Lock()
	c.rearmLocked(c.svc.clock.Now())
	c.mu.Unlock()
	c.wake()
	return nil
}

func (c *consumer) position() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

func (svc *Service) consumerInfo(streamName, name string) any {
	s := svc.lookup(streamName)
	if s == nil {
		return errResponse(typeConsumerInfo, apiErr(errStreamNotFound))
	}
	c := s.cons.get(name)
	if c == nil {
		return errResponse(typeConsumerInfo, apiErr(errConsumerNotFound))
	}
	return svc.consumerResponse(typeConsumerInfo, c.info())
}

func (svc *Service) deleteConsumer(streamName, name string) any {
	s := svc.lookup(streamName)
	if s == nil {
		return errResponse(typeConsumerDelete, apiErr(errStreamNotFound))
	}
	c := s.cons.get(name)
	if c == nil {
		return errResponse(typeConsumerDelete, apiErr(errConsumerNotFound))
	}
	if err := svc.removeConsumer(s, c, true); err != nil {
		return errResponse(typeConsumerDelete, storeErr(errConsumerStoreFailed, err))
	}
	return &successResponse{apiResponse{Type: typeConsumerDelete}, true}
}

// removeConsumer deletes c: it stops delivering (waiting pull requests get
// 409 Consumer Deleted when notify is set) and its stored state goes.
func (svc *Service) removeConsumer(s *stream, c *consumer, notify bool) error {
	s.cons.mu.Lock()
	if s.cons.byName[c.name] != c {
		s.cons.mu.Unlock()
		return nil
	}
	res, err := s.propose(&opConsumerRemove{}, c.name, true)
	s.cons.mu.Unlock()
	if err == nil && res.err != nil {
		return nil // gone meanwhile
	}
	if err != nil {
		// Whether or not the removal reached the store, this instance
		// stops; the stream's recovery brings the consumer back if its
		// definition is still stored (consumer_apply.go).
		c.stop(notify)
		return err
	}
	c.stop(notify)
	if c.retention == RetentionInterest {
		s.dropUnheld() // what only this consumer held can go now
	}
	svc.consumerAdvisory(s.name, c.name, actionDelete)
	return nil
}

type consumerNamesResponse struct {
	apiResponse
	apiPaged
	Consumers []string `json:"consumers"`
}

type consumerListResponse struct {
	apiResponse
	apiPaged
	Consumers []*ConsumerInfo `json:"consumers"`
	Missing   []string        `json:"missing,omitempty"`
}

// pageConsumers returns the consumers of a stream in name order from the
// request's offset.
func (svc *Service) pageConsumers(streamName string, body []byte) (*stream, []*consumer, int, int, *APIError) {
	var req struct {
		Offset int `json:"offset"`
	}
	if e := decodeRequest(body, &req); e != nil {
		return nil, nil, 0, 0, e
	}
	s := svc.lookup(streamName)
	if s == nil {
		return nil, nil, 0, 0, apiErr(errStreamNotFound)
	}
	all := s.cons.all()
	off := min(max(req.Offset, 0), len(all))
	return s, all[off:], len(all), off, nil
}

func (svc *Service) consumerNames(streamName string, body []byte) any {
	_, page, total, off, e := svc.pageConsumers(streamName, body)
	if e != nil {
		return errResponse(typeConsumerNames, e)
	}
	page = page[:min(len(page), namesPageSize)]
	r := &consumerNamesResponse{apiResponse: apiResponse{Type: typeConsumerNames},
		apiPaged: apiPaged{Total: total, Offset: off, Limit: namesPageSize}, Consumers: []string{}}
	for _, c := range page {
		r.Consumers = append(r.Consumers, c.name)
	}
	return r
}

func (svc *Service) consumerList(streamName string, body []byte) any {
	_, page, total, off, e := svc.pageConsumers(streamName, body)
	if e != nil {
		return errResponse(typeConsumerList, e)
	}
	page = page[:min(len(page), listPageSize)]
	r := &consumerListResponse{apiResponse: apiResponse{Type: typeConsumerList},
		apiPaged: apiPaged{Total: total, Offset: off, Limit: listPageSize}, Consumers: []*ConsumerInfo{}}
	for _, c := range page {
		r.Consumers = append(r.Consumers, c.info())
	}
	return r
}
