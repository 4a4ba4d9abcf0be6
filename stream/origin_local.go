package stream

// Checks and settings that depend on an origin this layer holds (a mirror
// or source without an external prefix whose stream exists here), as
// nats-server makes them when it can see the origin: a copy must be able
// to take every message its origin can hold, and a mirror serves direct
// gets exactly when its origin allows them.

// checkLocalOrigins refuses a mirror or source whose max_msg_size is below
// its origin's (10030 / 10046), and sets a mirror's mirror_direct to its
// origin's allow_direct. Called with svc.mu held.
func (svc *Service) checkLocalOrigins(cfg *Config) *APIError {
	type originLimits struct {
		maxMsgSize  int32
		allowDirect bool
	}
	local := func(o *StreamSource) (originLimits, bool) {
		if o == nil || o.External != nil {
			return originLimits{}, false
		}
		s := svc.streams[o.Name]
		if s == nil {
			return originLimits{}, false
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		return originLimits{maxMsgSize: s.cfg.MaxMsgSize, allowDirect: s.cfg.AllowDirect}, true
	}
	tooSmall := func(l originLimits) bool {
		return cfg.MaxMsgSize > 0 && l.maxMsgSize > 0 && cfg.MaxMsgSize < l.maxMsgSize
	}
	if l, ok := local(cfg.Mirror); ok {
		if tooSmall(l) {
			return apiErr(errMirrorMaxMsgSize)
		}
		cfg.MirrorDirect = l.allowDirect
	}
	for _, src := range cfg.Sources {
		if l, ok := local(src); ok && tooSmall(l) {
			return apiErr(errSourceMaxMsgSize)
		}
	}
	return nil
}

// mirrorDirectCaughtUp is how far behind its origin a mirror may be and
// still answer direct gets for it (nats-server's figure).
const mirrorDirectCaughtUp = 10

// directMirror returns a stream that answers direct gets for origin in its
// place: a mirror of it with mirror_direct whose copier has reached its
// origin and was, when last heard from, caught up. As with nats-server's
// mirrors, which join the origin's direct-get subscription once caught up
// and stay in it, a mirror keeps answering when its origin goes away.
func (svc *Service) directMirror(origin string) *stream {
	svc.mu.RLock()
	var cands []*stream
	for _, s := range svc.streams {
		s.mu.RLock()
		m := s.cfg.Mirror
		if m != nil && m.Name == origin && s.cfg.MirrorDirect {
			cands = append(cands, s)
		}
		s.mu.RUnlock()
	}
	svc.mu.RUnlock()
	for _, s := range cands {
		if mi, _ := svc.copiers.info(s); mi != nil && mi.Active >= 0 && mi.Lag < mirrorDirectCaughtUp {
			return s
		}
	}
	return nil
}
