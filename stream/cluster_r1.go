package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Streams with one replica on a clustered server. Each is an assignment
// of the meta group, as a replicated stream is, with its one server as
// its peers; that server runs it on its own store, without a raft group
// (replication/r1.go keeps the assignments and this server's streams in
// step: it creates an assigned stream missing here, deletes one whose
// assignment went, and registers the streams made before the server was
// clustered).
//
// A create with one replica is decided on the server the client asked
// (it is stream-enabled, or it would not answer the API): its placement
// on this server is proposed through the meta group, where the name and
// the subjects are checked against every stream of the account in log
// order, so of two creates racing on two servers exactly one wins; the
// other is refused (10058 for the name, 10065 for overlapping subjects).
// Then the stream is created here. Everything else about the stream is
// sent on to its server (cluster_api.go); while that server cannot be
// reached, the stream is still listed, and requests about it are
// answered with 503 / 10008.

// placeLocal takes a new one-replica stream's name and subjects in the
// meta group for this server, reporting whether it placed it (a create
// that then fails removes the placement, unplaceLocal). A stream this
// server holds and the meta group assigns it needs no placement.
func (svc *Service) placeLocal(cl Cluster, cfg *Config) (bool, *APIError) {
	name := cfg.Name
	holder, r1 := cl.LocalAssignment(name)
	if s := svc.lookup(name); s != nil {
		if r1 && holder == cl.Self() || s.repl != nil || cl.Servers() == nil {
			// The create goes on as for any stream held here (with no
			// meta group running, this server's streams are its own).
			return false, nil
		}
		// Held here without an assignment: being deleted (its removal
		// applied, the stream not yet gone), or made before this server
		// was clustered and not yet registered.
		return false, apiErr(errClusterNotAvail)
	}
	if _, ok := cl.Assignment(name); ok {
		// Another server's (routing could not reach it), or a replicated
		// stream's: as when placing it, the name is taken.
		var other Config
		if r1 && json.Unmarshal(cl.AssignedConfig(name), &other) == nil && sameConfig(&other, cfg) {
			if holder == cl.Self() {
				return false, nil // placed here by another create, not made yet
			}
			return false, apiErr(errClusterNotAvail)
		}
		return false, apiErr(errStreamNameExist)
	}
	v, err := json.Marshal(cfg)
	if err != nil {
		return false, apiErr(errStreamCreate, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch err := cl.PlaceLocal(ctx, name, v, svc.clock.Now()); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoMetaGroup):
		return false, nil // this server's alone, as when not clustered
	case errors.Is(err, ErrNameInUse):
		// Another create of the same stream on this server won (a retry,
		// or two clients): it is this create's stream too, as when asked
		// again once it exists.
		var other Config
		if holder, r1 := cl.LocalAssignment(name); r1 && holder == cl.Self() &&
			json.Unmarshal(cl.AssignedConfig(name), &other) == nil && sameConfig(&other, cfg) {
			return false, nil
		}
		return false, apiErr(errStreamNameExist)
	case errors.Is(err, ErrSubjectsOverlap):
		return false, apiErr(errStreamSubjectOverlap)
	default:
		svc.log.Warn("placing a stream through the meta group", "stream", name, "err", err)
		return false, clusterErr(err)
	}
}

// unplaceLocal removes this server's placement of a stream whose create
// failed after it was placed.
func (svc *Service) unplaceLocal(name string) {
	cl := svc.clusterOf()
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.UnplaceLocal(ctx, name); err != nil {
		svc.log.Warn("removing the placement of a stream whose create failed", "stream", name, "err", err)
	}
}

// recordConfig records an updated stream's config in the meta group, so
// that creates and updates elsewhere are checked against its subjects,
// and reports whether it did (or had nothing to record). The update is
// applied already; a failure is logged (the caller gives up an update
// checkSubjects recorded, else the next update records it again).
func (svc *Service) recordConfig(name string, config []byte) bool {
	cl := svc.clusterOf()
	if cl == nil || config == nil {
		return true
	}
	if _, ok := cl.Assignment(name); !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.RecordConfig(ctx, name, config); err != nil {
		svc.log.Warn("recording an updated stream's config in the meta group", "stream", name, "err", err)
		return false
	}
	return true
}

// SettledConfig settles a stream's log and returns its config, for the
// meta group to record in place of an update whose server gave it up
// (replication/settle.go). On the leader of a replicated stream it
// proposes an entry through the stream's group and waits for it to
// apply here (an expiry at the current time, which the stream's timer
// proposes anyway): every entry before it is then applied, and an
// update's entry that is not among them can never commit, so the config
// is final for every update proposed before. A stream with one replica
// has no entry in flight once its update returned. Updates on this
// server wait meanwhile (updateMu).
func (svc *Service) SettledConfig(name string) ([]byte, error) {
	svc.updateMu.Lock()
	defer svc.updateMu.Unlock()
	s := svc.lookup(name)
	if s == nil {
		return nil, fmt.Errorf("stream: %q is not on this server", name)
	}
	if s.repl != nil {
		if !s.isLeader() {
			return nil, fmt.Errorf("stream: this server does not lead %q", name)
		}
		if _, err := s.propose(&opExpire{Now: svc.clock.Now().UnixNano()}, "", true); err != nil {
			return nil, fmt.Errorf("stream: settling %q's log: %w", name, err)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(&s.cfg)
}

// checkSubjects takes the subjects an update adds to a stream in the
// meta group before the update is applied here, as a create takes its
// subjects (placeLocal): the meta group checks them against every other
// stream of the account in log order, so of two updates (or an update
// and a create) racing toward the same subjects on two servers exactly
// one wins; the other is refused with 10065. Accepted, the meta group
// records the new config and keeps the stream's former subjects
// reserved as well, for the stream captures them until the update is
// applied; recordConfig then ends the reservation, with the new config
// (applied) or the old one (the update failed).
//
// It returns the update's token when it recorded the update (the caller
// must then record a config afterwards, or give the update up:
// Cluster.AbandonConfig). An update that adds no subject, or of a
// stream the meta group does not assign, needs no check: the meta
// group's record still covers every subject the stream captures until
// recordConfig.
func (svc *Service) checkSubjects(cl Cluster, name string, old, cfg *Config) (string, *APIError) {
	added := false
	for _, subj := range cfg.Subjects {
		if !containsName(old.Subjects, subj) {
			added = true
			break
		}
	}
	if !added {
		return "", nil
	}
	if _, ok := cl.Assignment(name); !ok {
		return "", nil
	}
	v, err := json.Marshal(cfg)
	if err != nil {
		return "", apiErr(errStreamUpdate, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch token, err := cl.CheckConfig(ctx, name, v, old.Subjects); {
	case err == nil:
		return token, nil
	case errors.Is(err, ErrSubjectsOverlap):
		return "", apiErr(errStreamSubjectOverlap)
	default:
		// The update may still be recorded when the meta group gets to
		// it, and is not applied: it is given up, so that the stream's
		// leader records the stream's config back, ending its
		// reservation, and its check is refused should it come later.
		svc.log.Warn("checking an update's subjects through the meta group", "stream", name, "err", err)
		if token != "" {
			cl.AbandonConfig(name, token)
		}
		return "", clusterErr(err)
	}
}

// LocalStream is a stream of this server without a raft group, as
// replication registers it in the meta group.
type LocalStream struct {
	Name    string
	Config  []byte
	Created time.Time
}

// LocalStreams lists this server's streams without a raft group.
func (svc *Service) LocalStreams() []LocalStream {
	var out []LocalStream
	for _, s := range svc.sortedStreams() {
		if s.repl != nil {
			continue
		}
		s.mu.RLock()
		v, err := json.Marshal(&s.cfg)
		s.mu.RUnlock()
		if err != nil {
			continue
		}
		out = append(out, LocalStream{Name: s.name, Config: v, Created: s.created})
	}
	return out
}

// OpenLocal makes sure a one-replica stream the meta group assigned to
// this server exists, creating it (empty) from the assignment's config
// when it does not (its create's server failed before creating it).
func (svc *Service) OpenLocal(name string, config []byte, created time.Time) error {
	if svc.closing.Load() || svc.offlineStream(name) != "" {
		// A stream kept offline after damage is this one: it is not
		// replaced by an empty one.
		return nil
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if s := svc.streams[name]; s != nil {
		if s.repl != nil {
			return fmt.Errorf("stream: %q is a replica here, and assigned as a one-replica stream", name)
		}
		return nil
	}
	var cfg Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		return fmt.Errorf("stream: %q: config: %w", name, err)
	}
	cfg.setDefaults()
	if _, e := svc.createLocked(&cfg, created); e != nil {
		return fmt.Errorf("stream: create %q: %s", name, e.Description)
	}
	svc.log.Info("created a one-replica stream the meta group assigned here", "stream", name)
	return nil
}

// DropLocal deletes a one-replica stream whose assignment went (it was
// deleted through the meta group).
func (svc *Service) DropLocal(name string) {
	svc.mu.Lock()
	s := svc.streams[name]
	if s == nil || s.repl != nil {
		svc.mu.Unlock()
		return
	}
	_, err := svc.deleteLocked(s)
	svc.mu.Unlock()
	if err != nil {
		svc.log.Error("deleting a one-replica stream whose assignment went", "stream", name, "err", err)
	}
}

// unreachableR1 answers a request about a one-replica stream whose
// server is another one that could not be reached: 503 / 10008, as for
// a stream with no leader. nil when the stream is not such a stream.
func (svc *Service) unreachableR1(cl Cluster, rest string, reply, body []byte, hops int) (any, bool) {
	name, meta := apiStreamName(rest)
	if name == "" || meta || svc.lookup(name) != nil {
		return nil, false
	}
	holder, ok := cl.LocalAssignment(name)
	if !ok || holder == cl.Self() {
		return nil, false
	}
	if svc.forward(holder, apiPrefix+rest, reply, body, hops) {
		return nil, true
	}
	return errResponse(responseType(rest), apiErr(errClusterNotAvail)), true
}

// deleteR1 deletes a one-replica stream on its server: its assignment
// goes first (so that it is not created again from it), then the stream.
// The stream deleted meanwhile by replication (its assignment went) is a
// success too.
func (svc *Service) deleteR1(cl Cluster, name string) any {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.UnplaceLocal(ctx, name); err != nil {
		return errResponse(typeStreamDelete, clusterErr(err))
	}
	resp := svc.deleteStream(name)
	if r, ok := resp.(*apiResponse); ok && r.Error != nil && r.Error.ErrCode == errTable[errStreamNotFound].ErrCode {
		return &successResponse{apiResponse{Type: typeStreamDelete}, true}
	}
	return resp
}

// createLostToTwin takes a one-replica create refused because the name
// was taken while it was being placed: when the create that won
// is another server's with the same config, it is the same stream, and
// the request is sent on to that server, which answers it as a create
// asked again. Services whose instances all create their stream at start,
// each through its own server, then all succeed, as when the creates do
// not race. It reports whether the request was sent on.
func (svc *Service) createLostToTwin(subject, rest, reply string, body []byte, resp any, hops int) bool {
	r, ok := resp.(interface{ apiError() *APIError })
	if !ok || r.apiError() == nil {
		return false
	}
	// 10058: the placement lost in the meta log. 10008: the winner's
	// placement reached this server's copy of the meta group between the
	// request's routing (which found no holder to send it to) and its
	// placement (which found one elsewhere).
	if code := r.apiError().ErrCode; code != apiErr(errStreamNameExist).ErrCode && code != apiErr(errClusterNotAvail).ErrCode {
		return false
	}
	name, found := strings.CutPrefix(rest, "STREAM.CREATE.")
	cl := svc.clusterOf()
	if !found || cl == nil {
		return false
	}
	holder, r1 := cl.LocalAssignment(name)
	if !r1 || holder == cl.Self() {
		return false
	}
	cfg, bad := parseConfig(typeStreamCreate, name, body)
	var won Config
	if bad != nil || json.Unmarshal(cl.AssignedConfig(name), &won) != nil || !sameConfig(&won, cfg) {
		return false
	}
	return svc.forward(holder, subject, []byte(reply), body, hops)
}
