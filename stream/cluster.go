package stream

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wisp-mq/wisp/consensus"
)

// Cluster is what the stream layer needs of the cluster's replication on
// a clustered server with streams (Service.SetCluster). Every stream is
// an assignment of the meta group. Replicated streams (num_replicas > 1)
// each run a raft group of its own on the server's consensus host; the
// layer proposes their operations through it (replica.go). A stream
// with one replica runs on its one server's store, without a group
// (cluster_r1.go). The layer routes API requests to whichever server can
// answer them (cluster_api.go).
type Cluster interface {
	// Name is the cluster's name, Self this server's.
	Name() string
	Self() string
	// MetaLeader names the meta group's leader, "" while none is known.
	MetaLeader() string
	// MetaLeaderHasAccount reports whether the meta leader has the
	// layer's account (true while unknown): a create or delete is then
	// sent on to it, and else placed from the server asked.
	MetaLeaderHasAccount() bool
	// MetaRecovering reports whether this server's copy of the meta group
	// is recovering state it lost (a wiped or damaged disk): until it has
	// caught up it may not know every stream yet.
	MetaRecovering() bool
	// PlaceStream places a new stream on replicas servers and records
	// the assignment, from any server (ErrNoPeers when the cluster has
	// too few servers, ErrNoPeersAccount when too few of them have the
	// account; ErrNameInUse, ErrSubjectsOverlap).
	PlaceStream(ctx context.Context, name string, replicas int, config []byte, created time.Time) error
	// RemoveStream removes a stream's assignment, from any server.
	RemoveStream(ctx context.Context, name string) error
	// Assignment returns the servers holding a replicated stream.
	Assignment(name string) (peers []string, ok bool)
	// Assigned lists the replicated streams' names.
	Assigned() []string
	// Host is the server's consensus host, HostID its id in every group.
	Host() *consensus.Host
	// GroupStatus reports a stream group as this server sees it.
	GroupStatus(ctx context.Context, group uint64) GroupInfo
	// StepDown hands a group's leadership to its most caught-up active
	// member; this server must lead it.
	StepDown(ctx context.Context, group uint64) error
	// ReplacePeer replaces remove among a stream's peers with another
	// server, keeping the replica count (this server leads the group and
	// is not remove); it returns the replacement. ErrNotMember and
	// ErrNoReplacement are its refusals.
	ReplacePeer(ctx context.Context, stream string, group uint64, remove string) (string, error)
	// ScaleStream changes the number of servers holding a replicated
	// stream to replicas (2 or more; this server leads its group):
	// servers are added as learners that become voters once caught up,
	// or removed one at a time, never the leader. ErrNoPeers when the
	// cluster has fewer servers (up) than replicas.
	ScaleStream(ctx context.Context, stream string, group uint64, replicas int) error
	// Servers names the servers with streams in the cluster (the meta
	// group's members, this one included), nil while unknown.
	Servers() []string
	// AssignedConfig is the JSON config the meta group recorded for a
	// stream (placed with, or last updated to), nil for a stream not
	// assigned.
	AssignedConfig(name string) json.RawMessage
	// PlaceLocal places a new stream with one replica on this server
	// through the meta group (any server: a follower asks the leader);
	// ErrNameInUse or ErrSubjectsOverlap when another stream of the
	// account had the name or overlapping subjects first (cluster_r1.go).
	PlaceLocal(ctx context.Context, name string, config []byte, created time.Time) error
	// UnplaceLocal removes this server's placement of a one-replica
	// stream whose create failed.
	UnplaceLocal(ctx context.Context, name string) error
	// LocalAssignment names the server of a one-replica stream the meta
	// group assigned; false for any other name.
	LocalAssignment(name string) (server string, ok bool)
	// RecordConfig records an assigned stream's config after an update
	// (or, after an update that CheckConfig accepted failed, the config
	// before it), ending that update's reservation.
	RecordConfig(ctx context.Context, name string, config []byte) error
	// CheckConfig records the config of an update that adds subjects to
	// an assigned stream before the update is applied; the meta group
	// refuses it (ErrSubjectsOverlap) when they overlap another stream's
	// of the account at that point of its log. Accepted, the subjects in
	// reserve (the stream's before the update) stay reserved until
	// RecordConfig. It returns the update's token.
	CheckConfig(ctx context.Context, name string, config []byte, reserve []string) (token string, err error)
	// AbandonConfig gives up the update CheckConfig recorded as token,
	// whose end this server cannot record: the stream's leader then
	// settles the stream's log and records its config, ending the
	// reservation (replication/settle.go). It does not block.
	AbandonConfig(name, token string)
}

// Cluster.PlaceLocal's (and PlaceStream's) refusals.
var (
	ErrNameInUse       = errors.New("stream name already in use")
	ErrSubjectsOverlap = errors.New("subjects overlap with an existing stream")
	// ErrNoMetaGroup: the server has no meta group to join (no other
	// stream-enabled server at its seed routes); its one-replica streams
	// are its own until one forms.
	ErrNoMetaGroup = errors.New("no meta group")
)

// Cluster.ReplacePeer's refusals.
var (
	ErrNotMember     = errors.New("peer not a member")
	ErrNoReplacement = errors.New("no server to replace the peer")
)

// ErrLeaderMoved is Cluster.ScaleStream's error when the stream's
// leadership moved to another server part way: it goes on from there.
var ErrLeaderMoved = errors.New("the stream's leader changed")

// ErrNoPeers is Cluster.PlaceStream's error when there are fewer servers
// than replicas.
var ErrNoPeers = errors.New("no suitable peers for placement")

// ErrNoPeersAccount is Cluster.PlaceStream's error when the cluster has
// enough servers but too few of them have the stream's account.
var ErrNoPeersAccount = errors.New("no suitable peers for placement, account not configured on enough servers")

// GroupInfo is a raft group as one server sees it.
type GroupInfo struct {
	Leader   string // "" while none is known
	IsLeader bool
	Replicas []PeerInfo // the members other than this server
	SelfPeer string     // this server's raft id, as PeerInfo.Peer
}

// PeerInfo is one member of a group.
type PeerInfo struct {
	Name string
	// Peer is its raft id in the form /jsz's meta_cluster gives it ("" if
	// not known).
	Peer    string
	Current bool
	Offline bool // no route to its server: down or cut off
	Active  time.Duration
	Lag     uint64
}

// SetCluster makes the layer clustered: replicated streams become
// possible, and requests for them are routed through the cluster. It
// subscribes to the requests other servers forward to this one. Called
// once, before replication opens any replica (OpenReplica).
func (svc *Service) SetCluster(c Cluster) error {
	svc.mu.Lock()
	svc.cluster = c
	svc.mu.Unlock()
	svc.clusterRef.Store(&c)
	return svc.subscribeForwarded()
}

// clusterOf returns the cluster, nil on a server that is not clustered.
// It takes no lock, so code holding the service's lock may call it.
func (svc *Service) clusterOf() Cluster {
	if c := svc.clusterRef.Load(); c != nil {
		return *c
	}
	return nil
}

// maxReplicas is the most replicas a stream may have, as in nats-server.
const maxReplicas = 5
