// Package server is Wisp's message server: it accepts client connections
// that speak the NATS protocol, routes each published message through the
// subject index to its subscribers, and writes it out.
//
// The message path is parse → match → enqueue → write:
//
//   - each connection has one reader goroutine that feeds the bytes of one
//     read to a protocol.Parser; ops arrive as slices into the read buffer;
//   - a PUB is matched against the shared sublist, through a small
//     per-connection cache validated by the sublist's generation number;
//   - the message is encoded straight into each subscriber's outbound
//     chunks under that subscriber's own mutex (never a global lock);
//   - each subscriber's writer goroutine is woken at most once per read of
//     the producer and sends all pending chunks with one vectored write.
//
// Nothing on that path allocates per message in steady state, and per-message
// counters are folded into the server's totals once per read.
//
// A connection that cannot keep up (more than max_pending bytes queued, or a
// write that misses write_deadline) is a slow consumer: it is closed and
// counted, and the publisher is never stalled by it.
//
// Around that path: TLS for client connections (tls.go), users with
// publish/subscribe permissions (perms.go, checked through a per-connection
// cache so a permitted repeated subject costs one map lookup), and accounts
// (account.go): isolated subject spaces, each with its own sublist, joined
// only by explicit stream and service imports. Reload (reload.go) swaps
// options, users and accounts under running connections, re-checking each
// one; LameDuck (lameduck.go) drains the server before a restart.
//
// Clustering (cluster.go) joins servers into a full mesh. A conn is the
// transport; its role handles what its reader parses: the conn itself for
// a client, a route (route.go) for another server. Routes are dialled and
// redialled in cluster_dial.go and found by gossip (cluster_gossip.go);
// client interest travels between servers as RS+/RS- (interest.go), and
// fanOut (fanout.go) forwards a message once per interested route
// (forward.go), never from one route to another.
//
// The stream layer and other in-process users reach the router through
// Publish and Subscribe, which behave like a client's PUB and SUB in the
// global account; Account(name) gives the same for another account.
package server
