package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// OpenReplica opens this server's replica of a replicated stream the
// meta group assigned to it, creating the stream locally (empty, from
// the assignment's config and creation time) when this server does not
// hold it yet. Replication adds the returned state machine to the
// stream's raft group; the stream's data comes from the group's log.
func (svc *Service) OpenReplica(name string, group uint64, config []byte, created time.Time) (consensus.StateMachine, error) {
	cl := svc.clusterOf()
	if cl == nil {
		return nil, errors.New("stream: not clustered")
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if s := svc.streams[name]; s != nil {
		if s.repl == nil || s.group != group {
			return nil, fmt.Errorf("stream: %q exists here and is not replica of group %d", name, group)
		}
		s.repl.attach(cl)
		return s.repl, nil
	}
	var cfg Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("stream: replica %q: config: %w", name, err)
	}
	cfg.setDefaults()
	v, err := json.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	res, err := svc.proposeCreate(svc.storeFor(cfg.Storage), &opStreamCreate{Created: created.UnixNano(), Config: v}, group)
	if err == nil && res.err != nil {
		err = errors.New(res.err.Description)
	}
	if err != nil {
		return nil, fmt.Errorf("stream: create replica %q: %w", name, err)
	}
	s := res.stream
	s.cfg.Storage = cfg.Storage
	s.repl.attach(cl)
	svc.streams[name] = s
	svc.log.Info("created replica of stream", "stream", name, "group", group)
	return s.repl, nil
}

// CloseReplica drops this server's replica of a stream whose assignment
// was removed (deleted, or moved off this server): its data goes with it.
func (svc *Service) CloseReplica(name string, group uint64) {
	svc.mu.Lock()
	s := svc.streams[name]
	if s == nil || s.repl == nil || s.group != group {
		svc.mu.Unlock()
		return
	}
	svc.unsubscribeAll(s)
	op := &streamOp{s: s, enc: encodeOp(nil, "", &opStreamDelete{}), freeing: true, done: make(chan error, 1)}
	s.repl.Store.Submit(op) // local: the assignment's removal is the replicated decision
	err := <-op.done
	if errors.Is(err, errRejected) {
		err = nil
	}
	delete(svc.streams, name)
	svc.mu.Unlock()
	s.stopConsumers()
	s.repl.Close()
	if err != nil {
		svc.log.Error("dropping a replica", "stream", name, "err", err)
	}
}

// HeldReplicas names the replicas of replicated streams this layer holds,
// running or not, with their raft groups (replication drops those whose
// server was removed from the stream while it was down).
func (svc *Service) HeldReplicas() map[string]uint64 {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	out := map[string]uint64{}
	for name, s := range svc.streams {
		if s.repl != nil {
			out[name] = s.group
		}
	}
	return out
}
