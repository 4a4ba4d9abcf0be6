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
// data is an operation applied by that goroutine, so:
//
//   - a publish is copied out of the broker callback into a pooled pubOp,
//     encoded as an opPublish and queued; the writer checks it
//     (de-duplication, Nats-Expected-* headers, discard-new limits),
//     assigns the next sequence, writes it, removes what discard-old
//     limits push out, and commits the whole group of queued publishes
//     with one fsync before any of their PubAcks is sent (publish.go,
//     limits.go);
//   - API mutations (create, update, delete, purge, message delete,
//     consumer create, update, pause and delete) are proposed as
//     operations through the same writer and wait for their commit
//     (api_*.go, purge.go, pause.go); API reads go straight to Pebble and
//     to the in-memory state under the stream's read lock;
//   - max_age uses one timer per stream, armed for the oldest message; its
//     expiry is an operation too. So are the expiry of per-message TTLs
//     (ttl.go, with subject delete markers, markers.go) and the firing of
//     message schedules (schedule.go), each from a timer of its own;
//   - an atomic batch (batch.go) is staged in memory, outside the state
//     machine, until its commit, which proposes the whole batch as one
//     operation: apply checks every message before writing any, then
//     stores them all in the same store batch (batch_apply.go). A
//     counter's new value (counter.go) is computed by apply from the
//     subject's last stored message;
//   - a fast batch (fast_batch.go) stores each message as it arrives, as
//     a fast-publish operation carrying its batch id and sequence, so
//     that apply decides alike on every replica where a "gap: fail"
//     batch stops (fast_batch_op.go); its flow acknowledgements are the
//     proposer's bookkeeping, sent as each operation commits.
//
// A stream's in-memory state (counts, first/last sequence, a per-subject
// table, the de-duplication window) is derived from the store and rebuilt
// from it on start (recover.go), and after a fault (below).
//
// # A state machine behind a seam
//
// Replicated streams will apply one log of operations on several machines,
// each of which must end in the same state. The layer is shaped for that:
//
//   - Every change to a stream or one of its consumers is an operation
//     (op.go, op_kinds.go): a struct per kind with a versioned binary
//     encoding. The stream's apply (apply.go) is the one entry point that
//     decodes an operation and applies it to the batch being gathered and
//     to the state in memory; a consumer's acknowledgement kinds (deliver,
//     ack, nak, term, progress, redeliver-due, forget, reset,
//     dead-lettered, dead-letter-hold, and a replicated consumer's
//     deliver-batch and ack-batch) are applied by its applyLocked
//     (consumer_apply.go), under the consumer's lock: by its driver at
//     once on a stream with one replica, from the committed log on every
//     replica of a replicated stream (consumer_replicated.go).
//   - What an operation decides is stamped on it before it is applied: a
//     publish carries the time it was received, from which apply derives
//     the message's timestamp (raised to keep times in sequence order) and
//     the duplicate window's cut-off; an expiry and a stream update carry
//     their cut-off time; a consumer create its time and start position;
//     a delivery its time and redelivery deadline; a nak its deadline; a
//     pause its deadline; a reset its resolved sequence. Apply reads no
//     clock and draws nothing random, so applying the same operations in
//     the same order gives the same bytes.
//   - Time comes from the Clock in Options (clock.go), never from the
//     time package: message timestamps, max_age expiry, the duplicate
//     window, ack_wait and backoff, pull request expiry, idle heartbeats,
//     pauses and inactivity. Tests run on a FakeClock and move it instead
//     of sleeping. Only I/O pacing stays on real time: the store's fsync
//     interval and disk watch, and a consumer's flush delay, which decide
//     when bytes reach the disk, never what the state is.
//   - Nothing is undone. An invalid operation is refused before it changes
//     anything. A batch that fails to commit after its operations were
//     applied faults each stream it touched (fault): its memory is ahead
//     of its store, and it is rebuilt from the store before its next
//     operation and before an API proposer answers; the consumers'
//     definitions are brought back in line with the stored ones. A
//     replica that cannot apply a committed entry recovers from its
//     durable state in the same way; rolling back operation by operation
//     would need every apply to keep an undo. A store that reopened
//     itself after an I/O error faults every file stream (quota.go).
//   - A consumer's driver (its timer, delivery goroutine, pull requests,
//     flow control and outbox; consumer.go) changes its acknowledgement
//     state (ackState, ack_state.go) only by applying operations.
//   - The layer writes and reads through the Store interface (seam.go).
//     New opens no store: it receives its stores from Options.OpenStore;
//     PebbleStores opens Pebble on disk for file streams and Pebble over
//     vfs.NewMem() for memory streams.
//
// replay_test.go holds the layer to this: the encoded operations a
// seeded workload of every kind applied are recorded and replayed into a
// fresh state machine whose clock stands still, which must end with
// byte-identical stores and identical stream and consumer infos, for both
// storage kinds and both sync rules; and file and memory storage must
// answer alike. docs/ARCHITECTURE.md lists what replication still needs.
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
