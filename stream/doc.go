// Package stream is Wisp's stream layer: durable streams kept in Pebble,
// served through the subset of the NATS JetStream API that the official
// clients (nats.go/jetstream) use for streams.
//
// # Model
//
// A Service owns every stream of one server. It reaches the message server
// only through the Broker interface (broker.go): one subscription on
// $JS.API.> answers API requests, and one subscription per stream subject
// captures publishes. The package never imports the server.
//
// Each stream lives in one of two stores (package store): Pebble on disk
// for file storage, Pebble over an in-memory filesystem for memory storage.
// A store has a single writer goroutine; everything that changes stored
// data is an Op run by that goroutine, so:
//
//   - a publish is copied out of the broker callback into a pooled pubOp and
//     queued; the writer checks it (de-duplication, Nats-Expected-*
//     headers, discard-new limits), assigns the next sequence, writes it,
//     removes what discard-old limits push out, and commits the whole group
//     of queued publishes with one fsync before any of their PubAcks is
//     sent (publish.go, limits.go);
//   - API mutations (create, update, delete, purge, message delete) run
//     through the same writer and wait for their commit (api_*.go,
//     purge.go); API reads go straight to Pebble and to the in-memory state
//     under the stream's read lock;
//   - max_age uses one timer per stream, armed for the oldest message; its
//     expiry runs as an Op too.
//
// A stream's in-memory state (counts, first/last sequence, a per-subject
// table, the de-duplication window) is derived from the store and rebuilt
// from it on start (recover.go), and after a failed commit.
//
// # A state machine behind a seam
//
// Replicated streams will apply one log of operations on several machines,
// each of which must end in the same state. The layer is shaped for that:
//
//   - Time comes from the Clock in Options (clock.go), never from the
//     time package: message timestamps, max_age expiry, the duplicate
//     window, ack_wait and backoff, pull request expiry, idle heartbeats,
//     pauses and inactivity. Tests run on a FakeClock and move it instead
//     of sleeping. Only I/O pacing stays on real time: the store's fsync
//     interval and disk watch, and a consumer's flush delay, which decide
//     when bytes reach the disk, never what the state is.
//   - What an operation decides is stamped on it before it is queued: a
//     publish carries the time it was received (pubOp.now), from which
//     Apply derives the message's timestamp (raised to keep times in
//     sequence order) and the duplicate window's cut-off; an expiry
//     carries its cut-off time. Apply reads no clock, so applying the same
//     operations in the same order gives the same bytes.
//   - The layer writes and reads through the Store interface (seam.go).
//     New receives its stores from Options.OpenStore; by default
//     PebbleStores opens Pebble on disk for file streams and Pebble over
//     vfs.NewMem() for memory streams.
//
// replay_test.go holds the layer to this: a seeded workload of every kind
// of operation, applied twice to fresh Services on a FakeClock, must give
// byte-identical stores and identical answers, for both storage kinds and
// both sync rules; and file and memory storage must answer alike.
//
// What is not yet data: API mutations and consumer changes run as
// closures on the writer rather than as values that could be logged; a
// failed commit is undone by reloading the stream from the store
// (recover.go) rather than by an Apply that cannot fail; and although a
// consumer's acknowledgement state is its own pure type (ackState, in
// ack_state.go, which reads no clock, arms no timer and sends nothing),
// deliveries and acks change it under the consumer's lock rather than as
// logged operations. docs/ARCHITECTURE.md lists what replication still
// needs.
//
// # Rules it keeps
//
//   - No PubAck and no API success before the change is committed by the
//     store's durability rule (store.SyncAlways by default).
//   - Sequences never go back: after purge or expiry first = last+1, and the
//     last sequence is recorded on disk when its message is removed.
//   - Every request on $JS.API.> that has a reply subject gets exactly one
//     reply: a JSON error from the one error table (errors.go) if anything
//     is wrong, never silence and never a panic.
//
// Backups: a snapshot (snapshot.go) reads one stream through a Pebble
// snapshot opened between two commits and sends it as a checksummed,
// versioned archive (archive.go) in acknowledged chunks; a restore
// (restore.go) writes an archive back through the same Store, under a
// stream id no definition names until the whole archive checked out.
//
// Consumers (consumer*.go, pull.go, push.go, ack.go, redeliver.go,
// pause.go, reset.go) keep their state in the same store, in the key range
// store reserves for them (store/consumer_keys.go), gathered for a few
// milliseconds and written by one flush Op per consumer through the same
// group commit, so acks share the publishes' fsyncs. Each consumer has one
// delivery goroutine (the only one that sends its messages), one timer and
// one heap of ack deadlines; consumer.go explains the locking rules,
// docs/consumers.md the behaviour.
package stream
