package stream

import (
	"sync"
	"time"
)

// copierSet holds the running copiers of every stream of the layer. Copiers
// are started and stopped where the stream's broker subscriptions are
// (service.go: subscribe, unsubscribeAll), so they follow the stream
// through creation, update, recovery, deletion and Close.
type copierSet struct {
	mu      sync.Mutex
	running map[*stream]*streamCopiers
	all     sync.WaitGroup
}

// streamCopiers are one stream's copiers and the config they run for.
type streamCopiers struct {
	mirror  *StreamSource
	sources []*StreamSource
	list    []*copier
}

// ensure makes s's copiers match its config: started when it mirrors or
// sources, restarted when those settings changed, stopped when gone. It
// never waits for a copier.
func (cs *copierSet) ensure(s *stream) {
	s.mu.RLock()
	mirror, sources := s.cfg.Mirror, s.cfg.Sources
	s.mu.RUnlock()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cur := cs.running[s]; cur != nil {
		if sameOrigins(cur, mirror, sources) {
			return
		}
		cur.stop()
		delete(cs.running, s)
	}
	if s.svc.closing.Load() || mirror == nil && len(sources) == 0 {
		return
	}
	sc := &streamCopiers{mirror: mirror, sources: sources}
	if mirror != nil {
		sc.list = append(sc.list, newCopier(s, mirror, true))
	}
	for _, src := range sources {
		sc.list = append(sc.list, newCopier(s, src, false))
	}
	if cs.running == nil {
		cs.running = map[*stream]*streamCopiers{}
	}
	cs.running[s] = sc
	for _, c := range sc.list {
		cs.all.Add(1)
		go func() {
			defer cs.all.Done()
			c.run()
		}()
	}
}

// drop stops s's copiers without waiting for them.
func (cs *copierSet) drop(s *stream) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cur := cs.running[s]; cur != nil {
		cur.stop()
		delete(cs.running, s)
	}
}

// wait returns when every stopped copier has finished; for Close.
func (cs *copierSet) wait() { cs.all.Wait() }

// info returns the mirror's and the sources' parts of s's info.
func (cs *copierSet) info(s *stream) (mirror *StreamSourceInfo, sources []*StreamSourceInfo) {
	cs.mu.Lock()
	cur := cs.running[s]
	cs.mu.Unlock()
	if cur == nil {
		return nil, nil
	}
	for _, c := range cur.list {
		if c.mirror {
			mirror = c.info()
		} else {
			sources = append(sources, c.info())
		}
	}
	return mirror, sources
}

func (sc *streamCopiers) stop() {
	for _, c := range sc.list {
		close(c.stop)
	}
}

func sameOrigins(cur *streamCopiers, mirror *StreamSource, sources []*StreamSource) bool {
	if !sameSource(cur.mirror, mirror) || len(cur.sources) != len(sources) {
		return false
	}
	for i := range sources {
		if !sameSource(cur.sources[i], sources[i]) {
			return false
		}
	}
	return true
}

// originInfo fills in the mirror and sources sections of stream info.
func (s *stream) originInfo(si *StreamInfo) {
	si.Mirror, si.Sources = s.svc.copiers.info(s)
	if si.Sources == nil && si.Mirror == nil {
		return
	}
	for _, x := range append([]*StreamSourceInfo{si.Mirror}, si.Sources...) {
		if x != nil && x.Active > 0 {
			x.Active = x.Active.Round(time.Microsecond)
		}
	}
}

// OriginStats is one mirror or source of a stream, as monitoring shows it.
type OriginStats struct {
	Stream string // the stream copying
	Origin string // the stream copied from
	Mirror bool   // a mirror; otherwise a source
	Lag    uint64
	Active time.Duration // since the origin last answered; -1 never
	Error  string        // why it is not copying; empty when it is
}

// OriginStats returns every mirror's and source's figures, streams in name
// order.
func (svc *Service) OriginStats() []OriginStats {
	var out []OriginStats
	for _, s := range svc.sortedStreams() {
		m, srcs := svc.copiers.info(s)
		for _, si := range append([]*StreamSourceInfo{m}, srcs...) {
			if si == nil {
				continue
			}
			o := OriginStats{Stream: s.name, Origin: si.Name, Mirror: si == m, Lag: si.Lag, Active: si.Active}
			if si.Error != nil {
				o.Error = si.Error.Error()
			}
			out = append(out, o)
		}
	}
	return out
}
