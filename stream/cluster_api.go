package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/stream/store"
)

// Routing the API in a cluster. Every server answers the JetStream API
// of its own clients (its $JS.API.> subscription stays local), and sends
// on what it cannot answer itself:
//
//   - creating a replicated stream, and deleting any stream, to the meta
//     group's leader, which places it (or removes its assignment); a
//     stream with one replica is placed by the server asked
//     (cluster_r1.go);
//   - everything else about a replicated stream (info, update, purge,
//     messages, consumers, pull requests, step-down) to the stream's
//     leader, which proposes the change through the stream's log.
//
// A request is sent on as it came, reply subject included, as one of the
// cluster's internal messages to that server (Broker.SendToServer), with
// how often it was sent on; the server that finally handles it replies
// to the client directly, so a request gets exactly one reply. A request is sent on at most twice (a server
// that holds no replica sends it to one that does, which sends it to the
// leader); past that, or when no leader is known, the server answers
// itself, with an error if it cannot.
const maxHops = 2

// serverRequester is the Broker's pair of methods for requests between
// servers (the server's brokers have them): they travel as the
// cluster's internal messages, which no client can publish, so a client
// cannot step around its permissions on $JS.API through them.
type serverRequester interface {
	SendToServer(server, subject, reply string, data []byte) error
	HandleServerRequests(fn func(subject, reply string, data []byte))
}

// subscribeForwarded takes the requests other servers send this one.
func (svc *Service) subscribeForwarded() error {
	sr, ok := svc.broker.(serverRequester)
	if !ok {
		return errors.New("stream: the broker cannot take requests from other servers")
	}
	sr.HandleServerRequests(svc.onForwarded)
	svc.mu.Lock()
	prev := svc.apiStop
	svc.apiStop = func() {
		sr.HandleServerRequests(nil)
		if prev != nil {
			prev()
		}
	}
	svc.mu.Unlock()
	return nil
}

// onForwarded takes a request another server sent on: its subject is
// "<hops>.<API subject after $JS.API.>". It runs on a route's reader.
func (svc *Service) onForwarded(subject, reply string, data []byte) {
	h, api, ok := strings.Cut(subject, ".")
	hops, err := strconv.Atoi(h)
	if !ok || err != nil || hops < 1 {
		return
	}
	if api == heldAsk || api == heldAnswer {
		svc.onHeld(api, data) // a gathering's question or answer
		return
	}
	if reply == "" {
		return
	}
	svc.serveAPI(nil, []byte(apiPrefix+api), []byte(reply), nil, data, hops)
}

// forward sends a request on to server, reporting whether it was sent.
func (svc *Service) forward(server, subject string, reply, data []byte, hops int) bool {
	if hops >= maxHops {
		return false
	}
	return svc.forwardAny(server, subject, reply, data, hops)
}

// forwardAny is forward without the hop limit. A request is never sent
// to this server itself, nor to no server.
func (svc *Service) forwardAny(server, subject string, reply, data []byte, hops int) bool {
	cl := svc.clusterOf()
	sr, ok := svc.broker.(serverRequester)
	if server == "" || cl == nil || !ok || server == cl.Self() {
		return false
	}
	rest := strings.TrimPrefix(subject, apiPrefix)
	return sr.SendToServer(server, strconv.Itoa(hops+1)+"."+rest, string(reply), data) == nil
}

// apiStreamName returns the replicated-stream name a stream or consumer
// API request is about ("" for none), and whether it is a request only
// the meta leader handles (create, delete).
func apiStreamName(rest string) (name string, meta bool) {
	switch {
	case strings.HasPrefix(rest, "STREAM.CREATE."):
		return strings.TrimPrefix(rest, "STREAM.CREATE."), true
	case strings.HasPrefix(rest, "STREAM.DELETE."):
		return strings.TrimPrefix(rest, "STREAM.DELETE."), true
	case strings.HasPrefix(rest, "STREAM.LEADER.STEPDOWN."):
		return strings.TrimPrefix(rest, "STREAM.LEADER.STEPDOWN."), false
	case strings.HasPrefix(rest, "STREAM."):
		if _, n, ok := splitAPI(rest); ok {
			return n, false
		}
		return "", false
	case strings.HasPrefix(rest, "CONSUMER."):
		r := strings.TrimPrefix(rest, "CONSUMER.")
		for _, p := range []string{"DURABLE.CREATE.", "MSG.NEXT.", "LEADER.STEPDOWN."} {
			if a, ok := strings.CutPrefix(r, p); ok {
				n, _, _ := strings.Cut(a, ".")
				return n, false
			}
		}
		_, a, _ := strings.Cut(r, ".")
		n, _, _ := strings.Cut(a, ".")
		return n, false
	}
	return "", false
}

// routeCluster decides where a request about a replicated stream is
// answered, and sends it on when that is another server. It reports
// whether the request was sent on. It runs on the publisher's goroutine
// and does not block.
func (svc *Service) routeCluster(cl Cluster, subject string, reply, data []byte, hops int) bool {
	rest := strings.TrimPrefix(subject, apiPrefix)
	name, meta := apiStreamName(rest)
	if name == "" {
		return false
	}
	if svc.unknownWhileRecovering(cl, rest, name) {
		// This server's copy of the meta group lost its state and has not
		// caught up: the stream may exist without its knowing (a wiped
		// server that follows the leader before the assignments reached
		// it). The leader, whose copy is whole, answers, rather than this
		// server saying the stream is not found.
		leader := cl.MetaLeader()
		return leader != cl.Self() && svc.forward(leader, subject, reply, data, hops)
	}
	if meta {
		if strings.HasPrefix(rest, "STREAM.CREATE.") && !wantsReplicas(data) {
			if holder, r1 := cl.LocalAssignment(name); r1 {
				// A one-replica stream of that name: its server answers
				// (the same config again, or a name in use).
				return holder != cl.Self() && svc.forward(holder, subject, reply, data, hops)
			}
			if _, assigned := cl.Assignment(name); !assigned {
				return false // placed on this server (cluster_r1.go)
			}
		} else if strings.HasPrefix(rest, "STREAM.DELETE.") {
			if holder, r1 := cl.LocalAssignment(name); r1 {
				// A one-replica stream is deleted by its server, which
				// answers once it is gone (cluster_r1.go); while that
				// server cannot be reached, the meta leader removes the
				// assignment and the server deletes it when back.
				if holder == cl.Self() || svc.forward(holder, subject, reply, data, hops) {
					return holder != cl.Self()
				}
			} else if _, assigned := cl.Assignment(name); !assigned {
				return false
			}
		}
		leader := cl.MetaLeader()
		if leader == cl.Self() || !cl.MetaLeaderHasAccount() {
			// A leader without the account has no stream layer to take
			// the request: this server places (or removes) the stream
			// through the meta group itself.
			return false
		}
		return svc.forward(leader, subject, reply, data, hops)
	}
	peers, assigned := cl.Assignment(name)
	if !assigned {
		return false
	}
	if s := svc.lookup(name); s != nil && s.repl != nil {
		if s.repl.leader.Load() {
			return false
		}
		return svc.forward(cl.GroupStatus(context.Background(), s.group).Leader, subject, reply, data, hops)
	}
	for _, p := range peers {
		if p != cl.Self() {
			return svc.forward(p, subject, reply, data, hops)
		}
	}
	return false
}

// unknownWhileRecovering reports whether a request about stream name
// (rest is its subject after the API prefix) names a stream this server's
// meta copy does not know while that copy recovers lost state. A create
// is not: it goes through the meta log, which refuses a name in use.
func (svc *Service) unknownWhileRecovering(cl Cluster, rest, name string) bool {
	if strings.HasPrefix(rest, "STREAM.CREATE.") || !cl.MetaRecovering() {
		return false
	}
	if _, ok := cl.Assignment(name); ok {
		return false
	}
	if _, ok := cl.LocalAssignment(name); ok {
		return false
	}
	return svc.lookup(name) == nil
}

// wantsReplicas reports whether a stream create request asks for more
// than one replica.
func wantsReplicas(body []byte) bool {
	var c struct {
		Replicas int `json:"num_replicas"`
	}
	return json.Unmarshal(bytes.TrimSpace(body), &c) == nil && c.Replicas > 1
}

// handleCluster answers the requests that only a clustered server has:
// creating, deleting and stepping down replicated streams, and those
// about the whole account (cluster_account.go); a request about a
// one-replica stream on another server is sent on there. It reports
// whether it handled the request; a nil reply means it was sent on to
// another server, which replies.
func (svc *Service) handleCluster(cl Cluster, rest string, reply []byte, body []byte, hops int) (any, bool) {
	if resp, ok := svc.unreachableR1(cl, rest, reply, body, hops); ok {
		return resp, true
	}
	if name, _ := apiStreamName(rest); name != "" && svc.unknownWhileRecovering(cl, rest, name) {
		// routeCluster had no meta leader to send it to: until this
		// server's copy has caught up it cannot tell whether the stream
		// exists, and saying "not found" could be wrong.
		return errResponse(responseType(rest), apiErr(errClusterNotAvail)), true
	}
	if hops == 0 && !strings.HasPrefix(rest, "STREAM.CREATE.") {
		// A stream with one replica on another server: that server answers.
		if name, _ := apiStreamName(rest); name != "" {
			if to := svc.locate(cl, name); to != "" && svc.forward(to, apiPrefix+rest, reply, body, hops) {
				return nil, true
			}
		}
	}
	switch {
	case rest == "INFO":
		return svc.clusterAccountInfo(cl), true
	case rest == "STREAM.NAMES":
		return svc.clusterStreamNames(cl, body), true
	case rest == "STREAM.LIST":
		return svc.clusterStreamList(cl, body), true
	case strings.HasPrefix(rest, "STREAM.CREATE."):
		if !wantsReplicas(body) {
			name := strings.TrimPrefix(rest, "STREAM.CREATE.")
			if _, r1 := cl.LocalAssignment(name); r1 {
				return nil, false // createStream answers (cluster_r1.go)
			}
			if _, ok := cl.Assignment(name); !ok {
				return nil, false
			}
		}
		cfg, bad := parseConfig(typeStreamCreate, strings.TrimPrefix(rest, "STREAM.CREATE."), body)
		if bad != nil {
			return bad, true
		}
		return svc.createReplicated(cl, cfg, reply, hops), true
	case strings.HasPrefix(rest, createdPrefix) && hops > 0:
		return svc.awaitLeader(cl, strings.TrimPrefix(rest, createdPrefix), reply, hops), true
	case strings.HasPrefix(rest, "STREAM.DELETE."):
		name := strings.TrimPrefix(rest, "STREAM.DELETE.")
		if holder, r1 := cl.LocalAssignment(name); r1 && holder == cl.Self() {
			return svc.deleteR1(cl, name), true
		}
		if _, ok := cl.Assignment(name); !ok {
			return nil, false
		}
		return svc.deleteReplicated(cl, name), true
	case strings.HasPrefix(rest, "STREAM.LEADER.STEPDOWN."):
		return svc.stepDown(cl, typeStreamStepDown, strings.TrimPrefix(rest, "STREAM.LEADER.STEPDOWN."), ""), true
	case strings.HasPrefix(rest, "STREAM.PEER.REMOVE."):
		return svc.removePeer(cl, strings.TrimPrefix(rest, "STREAM.PEER.REMOVE."), reply, body, hops), true
	case strings.HasPrefix(rest, "CONSUMER.LEADER.STEPDOWN."):
		sname, cname, _ := strings.Cut(strings.TrimPrefix(rest, "CONSUMER.LEADER.STEPDOWN."), ".")
		return svc.stepDown(cl, typeConsumerStepDown, sname, cname), true
	}
	return nil, false
}

// createdPrefix is the request the meta leader sends a new stream's
// leader so that it answers the create: its answer reaches the client
// after its subscriptions' interest did, on the same route.
const createdPrefix = "STREAM.CREATED."

// createReplicated creates a replicated stream: on the meta leader, it
// checks the config, places the stream and has its group's leader
// answer (awaitLeader).
func (svc *Service) createReplicated(cl Cluster, cfg *Config, reply []byte, hops int) any {
	name := cfg.Name
	if _, ok := cl.Assignment(name); ok {
		if s := svc.lookup(name); s != nil {
			s.mu.RLock()
			same := sameConfig(&s.cfg, cfg)
			s.mu.RUnlock()
			if same {
				return svc.awaitLeader(cl, name, reply, hops)
			}
		}
		return errResponse(typeStreamCreate, apiErr(errStreamNameExist))
	}
	svc.mu.RLock()
	_, local := svc.streams[name]
	overlap := svc.overlapping(name, cfg.Subjects)
	svc.mu.RUnlock()
	if local {
		return errResponse(typeStreamCreate, apiErr(errStreamNameExist))
	}
	if overlap {
		return errResponse(typeStreamCreate, apiErr(errStreamSubjectOverlap))
	}
	if e := svc.clusterConflict(cl, name, cfg.Subjects, true); e != nil {
		return errResponse(typeStreamCreate, e)
	}
	if e := svc.checkReservation(name, cfg); e != nil {
		return errResponse(typeStreamCreate, e)
	}
	v, err := json.Marshal(cfg)
	if err != nil {
		return errResponse(typeStreamCreate, apiErr(errStreamCreate, err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.PlaceStream(ctx, name, cfg.Replicas, v, svc.clock.Now()); err != nil {
		switch {
		case errors.Is(err, ErrSubjectsOverlap):
			return errResponse(typeStreamCreate, apiErr(errStreamSubjectOverlap))
		case errors.Is(err, ErrNameInUse):
			// Another create of that name placed first: the same config
			// is the same stream, as when asked again.
			var other Config
			if json.Unmarshal(cl.AssignedConfig(name), &other) == nil && sameConfig(&other, cfg) {
				return svc.awaitLeader(cl, name, reply, hops)
			}
			return errResponse(typeStreamCreate, apiErr(errStreamNameExist))
		}
		return errResponse(typeStreamCreate, clusterErr(err))
	}
	svc.streamAdvisory(name, actionCreate)
	return svc.awaitLeader(cl, name, reply, hops)
}

// awaitLeader has a new stream's leader answer its create: here if this
// server leads it, else sent on to the leader (or, from a server with no
// replica, to one that has one). It waits up to 10 seconds for a leader.
func (svc *Service) awaitLeader(cl Cluster, name string, reply []byte, hops int) any {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s := svc.lookup(name)
		var to string
		if s != nil && s.repl != nil && s.repl.cluster() != nil {
			gi := cl.GroupStatus(ctx, s.group)
			if gi.IsLeader && s.isLeader() {
				return svc.infoResponse(typeStreamCreate, s.info(""))
			}
			if !gi.IsLeader {
				to = gi.Leader
			}
		} else if peers, ok := cl.Assignment(name); ok && !containsName(peers, cl.Self()) && len(peers) > 0 {
			to = peers[0]
		}
		if to != "" && hops < maxCreatedHops {
			subj := apiPrefix + createdPrefix + name
			if svc.forwardAny(to, subj, reply, nil, hops) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errResponse(typeStreamCreate, apiErr(errClusterNotAvail))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// maxCreatedHops bounds how often a create's answer is sent on while a
// new group elects its leader.
const maxCreatedHops = 5

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// deleteReplicated removes a replicated stream's assignment; each
// replica then drops its copy (CloseReplica).
func (svc *Service) deleteReplicated(cl Cluster, name string) any {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.RemoveStream(ctx, name); err != nil {
		return errResponse(typeStreamDelete, clusterErr(err))
	}
	svc.streamAdvisory(name, actionDelete)
	return &successResponse{apiResponse{Type: typeStreamDelete}, true}
}

// stepDown answers STREAM.LEADER.STEPDOWN and CONSUMER.LEADER.STEPDOWN:
// a consumer's leader is its stream's (consumers go through the
// stream's log), so both move the stream group's leadership.
func (svc *Service) stepDown(cl Cluster, typ, name, consumer string) any {
	s := svc.lookup(name)
	if s == nil {
		return errResponse(typ, apiErr(errStreamNotFound))
	}
	if consumer != "" && s.cons.get(consumer) == nil {
		return errResponse(typ, apiErr(errConsumerNotFound))
	}
	if s.repl == nil {
		return errResponse(typ, apiErr(errClusterNotLeader))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.StepDown(ctx, s.group); err != nil {
		return errResponse(typ, clusterErr(err))
	}
	return &successResponse{apiResponse{Type: typ}, true}
}

// clusterErr is the API error for a failed cluster operation.
func clusterErr(err error) *APIError {
	var nl *consensus.NotLeaderError
	switch {
	case errors.Is(err, ErrNoPeers):
		return apiErr(errClusterNoPeers)
	case errors.Is(err, ErrNoPeersAccount):
		return apiErr(errClusterNoPeersAccount)
	case errors.As(err, &nl):
		return apiErr(errClusterNotLeader)
	}
	return apiErr(errClusterNotAvail)
}

// retryNotLeader sends a request on to its stream's leader when it was
// refused here because leadership moved between its routing and its
// proposal (errNotLeader: nothing was proposed, so sending it again
// cannot apply it twice), as happens when a new group's first leader
// changes under load. It waits a little for the group to elect, and
// reports whether the request was sent on. A request that comes back to
// this server as leader is handled here again; one sent on too often is
// answered with the error.
func (svc *Service) retryNotLeader(subject, rest, reply string, body []byte, resp any, hops int) bool {
	r, ok := resp.(interface{ apiError() *APIError })
	if !ok || r.apiError() == nil || hops >= maxNotLeaderHops ||
		!strings.Contains(r.apiError().Description, notLeaderText) {
		return false
	}
	cl := svc.clusterOf()
	name, _ := apiStreamName(rest)
	s := svc.lookup(name)
	if cl == nil || s == nil || s.repl == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		gi := cl.GroupStatus(ctx, s.group)
		if gi.Leader != "" && !gi.IsLeader {
			return svc.forwardAny(gi.Leader, subject, []byte(reply), body, hops)
		}
		if gi.IsLeader && s.isLeader() {
			// Leadership came back here: handle it again, as if sent on.
			svc.handleAPI(subject, reply, body, nil, hops+1)
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// notLeaderText is how errNotLeader shows in an API error's description
// (the error table's rows take the cause as text).
var notLeaderText = strings.TrimPrefix(errNotLeader.Error(), store.ErrNotApplied.Error()+": ")

// maxNotLeaderHops bounds how often a request refused for leadership
// moving is sent on.
const maxNotLeaderHops = 4

// pullElsewhere takes a client's pull request for a consumer of a stream
// this server neither holds nor knows from the meta group: it looks for
// the server holding that stream (a stream with one replica) and sends
// the request on there, or, when none does, answers it as for a consumer
// that does not exist. It reports whether it took the request; it does
// not block (the search runs on a goroutine of its own).
func (svc *Service) pullElsewhere(cl Cluster, subject, reply, data []byte, hops int) bool {
	rest, ok := bytes.CutPrefix(subject, []byte(msgNextPrefix))
	if !ok || hops > 0 || len(reply) == 0 {
		return false
	}
	name, _, _ := strings.Cut(string(rest), ".")
	if svc.lookup(name) != nil {
		return false
	}
	if _, assigned := cl.Assignment(name); assigned {
		return false
	}
	svc.mu.RLock()
	if svc.closing.Load() {
		svc.mu.RUnlock()
		return false
	}
	svc.inflight.Add(1)
	svc.mu.RUnlock()
	subj, rep, body := string(subject), bytes.Clone(reply), bytes.Clone(data)
	go func() {
		defer svc.inflight.Done()
		if to := svc.locate(cl, name); to != "" && svc.forward(to, subj, rep, body, hops) {
			return
		}
		svc.pullRequest([]byte(subj), rep, body)
	}()
	return true
}

// directElsewhere sends a direct get for a stream this server holds no
// replica of (and no mirror answering for it) to a server that holds
// one: a replica of a replicated stream, or the server of a one-replica
// stream. It reports whether it sent the request on.
func (svc *Service) directElsewhere(subject, rest, reply string, body []byte) bool {
	cl := svc.clusterOf()
	name, _, _ := strings.Cut(rest, ".")
	if cl == nil || svc.lookup(name) != nil || svc.directMirror(name) != nil {
		return false
	}
	to := ""
	if peers, assigned := cl.Assignment(name); assigned {
		for _, p := range peers {
			if p != cl.Self() {
				to = p
				break
			}
		}
	} else {
		to = svc.locate(cl, name)
	}
	return to != "" && svc.forward(to, subject, []byte(reply), body, 0)
}
