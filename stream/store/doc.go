// Package store keeps stream messages in one Pebble database and commits
// every change through a single group-commit writer.
//
// # Model
//
// A Store is one Pebble database: on disk for file streams, or over Pebble's
// in-memory filesystem (vfs.NewMem) for memory streams, so both storage types
// share one code path. All streams of a storage type live in the same
// database, each under a small numeric id, so that a stream is a handful of
// contiguous key ranges (see keys.go):
//
//	meta  | name                     -> stream metadata (opaque to this package)
//	msg   | id | seq (big endian)    -> message record (record.go)
//	subj  | id | subject 0x00 | seq  -> empty: the per-subject index
//	state | id                       -> last sequence, kept for empty streams
//	consumer | id | name 0x00 | kind ...   -> consumer state (consumer_keys.go)
//
// Because sequences are big endian, a stream's messages iterate in sequence
// order, and one subject's messages iterate in sequence order within the
// subject index; last-by-subject, per-subject limits, subject purges and
// filtered readers all become short range scans.
//
// # Writes
//
// Nothing writes to Pebble except the writer goroutine (writer.go). Callers
// Submit an Op; the writer takes every Op waiting at that moment, lets each
// Apply itself to one indexed batch (so an Op sees the writes of the Ops
// before it in the same batch), commits the batch with one fsync, and only
// then calls each Op's Done. Many concurrent publishers therefore share one
// write and one sync, and an Op's Done (the PubAck) never runs before its
// data is durable by the configured rule. Consumer state rides the same
// batches: the stream layer submits one Op per consumer carrying its
// pending-set changes (consumer_keys.go).
//
// # Damage
//
// Pebble takes a damaged write-ahead log's first bad chunk as its end,
// silently. The manifest (manifest.go), written apart from Pebble and only
// for data already durable, remembers each stream's highest committed
// sequence, its definition and its consumers; Open compares it with what
// Pebble recovered (damage.go) and reports the difference (OpenReport)
// instead of letting sequences, consumers or streams vanish. Every value
// other than a message record is sealed with a checksum (seal.go); Verify
// (verify.go) checks a stopped store offline.
//
// # Full and failing disks
//
// Before each group of writes the writer checks the disk's free space
// against a headroom and refuses Ops that add data (ErrNoSpace) before
// applying them; an I/O error inside Pebble marks the store failed
// (ErrFailed) instead of ending the process, and the store reopens itself
// when it can. See space.go and fault.go.
//
// # What it must never do
//
// The store never panics on bytes read from disk: every decoder returns an
// error for short, torn or corrupt input (ErrCorrupt), and readers skip such
// records instead of failing the whole stream. The store never calls Done
// before the batch holding the Op is committed, and its manifest never
// claims a sequence that is not durable. No disk error, full or failing,
// ends the process.
package store
