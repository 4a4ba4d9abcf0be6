package replication

import "hash/fnv"

// Network is what replication needs of the server: cluster-internal
// messages to and from the other servers, named by server name, and who
// those servers are. cmd/wisp implements it over *server.Server, whose
// routes carry the messages with their credentials and TLS.
type Network interface {
	// Send queues payload for the server peer on channel without
	// blocking; an error means it was not queued (no route, or the route
	// is backed up) and the caller should drop it.
	Send(peer, channel string, payload []byte) error
	// Handle sets the handler of a channel; it runs on a route's reader
	// goroutine, must not block, and may keep payload only by copying it.
	Handle(channel string, h func(from string, payload []byte))
	// Peers lists the servers with a route up.
	Peers() []Peer
	// Seeds names the server at each configured seed route, "" while
	// unknown (this server's own name for a seed that is itself).
	Seeds() []string
}

// Peer is another server of the cluster.
type Peer struct {
	Name    string
	Streams bool // it runs the stream layer
}

// Channels of cluster-internal messages.
const (
	chanRaft    = "raft"    // frames of raft batches (frame.go)
	chanMeta    = "meta"    // the meta group's hellos (meta.go)
	chanMetaCtl = "metactl" // requests to the meta leader (meta_stepdown.go)
)

// NodeID is the raft id of the server named name: a 64-bit FNV-1a hash
// of the name, never 0. Server names are unique in a cluster and stable
// across restarts, which is what raft needs of an id; a server whose disk
// was wiped comes back with the same id, and the consensus package's
// recovery rule covers exactly that case.
func NodeID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	if id := h.Sum64(); id != 0 {
		return id
	}
	return 1
}
