package stream

import (
	"encoding/json"
	"sync"
	"time"
)

// Gathering what every server holds. The meta group knows every stream
// (a one-replica stream too, cluster_r1.go), but a stream's current
// state is its leader's (a one-replica stream's server), and a stream a
// server made before it was clustered is its alone until registered. So
// a request about the whole account (stream names and lists, account
// info), or about a stream this server has never heard of, asks every
// server with streams what it holds and waits for the answers. A server
// that does not answer within gatherWait is left out: its usage is
// missing from account info, and a list names the assigned streams no
// leader reported as missing.
//
// Questions and answers travel as the cluster's internal requests
// (serverRequester), in the requesting account: no client can send or
// see them.
const (
	heldAsk    = "WISP.HELD"       // a question, sent to every server
	heldAnswer = "WISP.HELD.REPLY" // an answer, sent back to the asker
)

// gatherWait is how long a gathering waits for the other servers.
const gatherWait = 2 * time.Second

// heldQuery is a gathering's question.
type heldQuery struct {
	ID   uint64 `json:"id"`
	From string `json:"from"`
	// Stream, when set, asks about that stream only.
	Stream string `json:"stream,omitempty"`
	// Infos asks for the stream info of each stream the server leads.
	Infos bool `json:"infos,omitempty"`
}

// heldStream is one stream a server holds, as it answers.
type heldStream struct {
	Name     string   `json:"name"`
	Subjects []string `json:"subjects,omitempty"`
	// Replicated: a replica of a replicated stream; Leader: this server
	// answers for the stream (it leads it, or the stream is its own).
	Replicated bool            `json:"replicated,omitempty"`
	Leader     bool            `json:"leader,omitempty"`
	Consumers  int             `json:"consumers"`
	Info       json.RawMessage `json:"info,omitempty"`
}

// heldReply is one server's answer: its streams, and the bytes its
// stores hold for the account (replicas included, as each server of a
// nats-server cluster reports its own usage).
type heldReply struct {
	ID      uint64       `json:"id"`
	Server  string       `json:"server"`
	Streams []heldStream `json:"streams"`
	Memory  uint64       `json:"memory"`
	Storage uint64       `json:"storage"`
}

// gatherSet holds the gatherings waiting for answers, by id.
type gatherSet struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan heldReply
}

func (g *gatherSet) open(size int) (uint64, chan heldReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting == nil {
		g.waiting = map[uint64]chan heldReply{}
	}
	g.next++
	ch := make(chan heldReply, size)
	g.waiting[g.next] = ch
	return g.next, ch
}

func (g *gatherSet) close(id uint64) {
	g.mu.Lock()
	delete(g.waiting, id)
	g.mu.Unlock()
}

// deliver hands an answer to its gathering; one that comes late, or more
// answers than asked for, are dropped. It never blocks.
func (g *gatherSet) deliver(r heldReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.waiting[r.ID]; ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}

// gather asks every server what it holds (this one answers at once) and
// returns the answers that came within gatherWait. It blocks: call it
// from a request's own goroutine.
func (svc *Service) gather(cl Cluster, q heldQuery) []heldReply {
	self := cl.Self()
	out := []heldReply{svc.held(self, q)}
	sr, ok := svc.broker.(serverRequester)
	servers := cl.Servers()
	if !ok || len(servers) < 2 {
		return out
	}
	id, ch := svc.gathers.open(len(servers))
	defer svc.gathers.close(id)
	q.ID, q.From = id, self
	body, err := json.Marshal(q)
	if err != nil {
		return out
	}
	asked := 0
	for _, name := range servers {
		// A server with no route up is not waited for.
		if name != self && sr.SendToServer(name, "1."+heldAsk, "", body) == nil {
			asked++
		}
	}
	timeout := time.NewTimer(gatherWait)
	defer timeout.Stop()
	for ; asked > 0; asked-- {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-timeout.C:
			svc.log.Debug("servers did not say what they hold in time", "missing", asked)
			return out
		}
	}
	return out
}

// onHeld takes another server's question or answer (onForwarded). It
// runs on a route's reader: the question is answered on a goroutine of
// its own, since stream infos ask the consensus host.
func (svc *Service) onHeld(api string, data []byte) {
	if api == heldAnswer {
		var r heldReply
		if json.Unmarshal(data, &r) == nil {
			svc.gathers.deliver(r)
		}
		return
	}
	var q heldQuery
	cl := svc.clusterOf()
	sr, ok := svc.broker.(serverRequester)
	if json.Unmarshal(data, &q) != nil || q.From == "" || cl == nil || !ok {
		return
	}
	svc.mu.RLock()
	if svc.closing.Load() {
		svc.mu.RUnlock()
		return
	}
	svc.inflight.Add(1)
	svc.mu.RUnlock()
	go func() {
		defer svc.inflight.Done()
		body, err := json.Marshal(svc.held(cl.Self(), q))
		if err != nil {
			svc.log.Error("encode the streams this server holds", "err", err)
			return
		}
		if err := sr.SendToServer(q.From, "1."+heldAnswer, "", body); err != nil {
			svc.log.Debug("answer what this server holds", "to", q.From, "err", err)
		}
	}()
}

// held is this server's answer to q.
func (svc *Service) held(self string, q heldQuery) heldReply {
	r := heldReply{ID: q.ID, Server: self, Streams: []heldStream{}}
	for _, s := range svc.sortedStreams() {
		cfg, st, _, consumers := s.snapshot()
		if cfg.Storage == MemoryStorage {
			r.Memory += st.bytes
		} else {
			r.Storage += st.bytes
		}
		if q.Stream != "" && s.name != q.Stream {
			continue
		}
		h := heldStream{Name: s.name, Subjects: cfg.Subjects, Replicated: s.repl != nil,
			Leader: s.isLeader(), Consumers: consumers}
		if q.Infos && h.Leader {
			if b, err := json.Marshal(s.info("")); err == nil {
				h.Info = b
			}
		}
		r.Streams = append(r.Streams, h)
	}
	return r
}

// clusterStream is one stream of the account as the answers show it.
type clusterStream struct {
	subjects  []string
	consumers int
	info      json.RawMessage // its leader's info, nil when none answered
	fromLead  bool            // subjects and consumers are its leader's
}

// accountStreams merges the answers to q with the meta group's
// assignments (a stream none of whose servers answered is known by the
// config the meta group recorded), and the answers themselves.
func (svc *Service) accountStreams(cl Cluster, q heldQuery) (map[string]*clusterStream, []heldReply) {
	replies := svc.gather(cl, q)
	all := map[string]*clusterStream{}
	for _, r := range replies {
		for _, h := range r.Streams {
			cs := all[h.Name]
			if cs == nil {
				cs = &clusterStream{}
				all[h.Name] = cs
			}
			if h.Leader && !cs.fromLead {
				cs.subjects, cs.consumers, cs.info, cs.fromLead = h.Subjects, h.Consumers, h.Info, true
			} else if !cs.fromLead && cs.subjects == nil {
				cs.subjects, cs.consumers = h.Subjects, h.Consumers
			}
		}
	}
	for _, name := range cl.Assigned() {
		if (q.Stream != "" && name != q.Stream) || all[name] != nil {
			continue
		}
		cs := &clusterStream{}
		var cfg Config
		if json.Unmarshal(cl.AssignedConfig(name), &cfg) == nil {
			cs.subjects = cfg.Subjects
		}
		all[name] = cs
	}
	return all, replies
}

// locate names the server that holds a stream with one replica which
// this server neither holds nor knows from the meta group, "" when none
// does (or it is this server's).
func (svc *Service) locate(cl Cluster, name string) string {
	if name == "" || svc.lookup(name) != nil {
		return ""
	}
	if _, assigned := cl.Assignment(name); assigned {
		return ""
	}
	for _, r := range svc.gather(cl, heldQuery{Stream: name}) {
		for _, h := range r.Streams {
			if h.Name == name && !h.Replicated && r.Server != cl.Self() {
				return r.Server
			}
		}
	}
	return ""
}
