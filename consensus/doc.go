// Package consensus is Wisp's replication foundation: many Raft groups
// (go.etcd.io/raft/v3, used as a library; Wisp implements no consensus of
// its own) hosted on one node, their logs in one Pebble database, their
// messages through one Transport.
//
// The package holds:
//
//   - Store and GroupStorage (storage.go, batch.go, load.go): the raft
//     logs of many groups in one Pebble database, every record checksummed
//     (record.go), verified on open, written in one batch and one fsync per
//     host loop iteration.
//   - Host (host.go): runs the groups' RawNodes on one goroutine and
//     handles each Ready the way etcd's raft requires: persist entries and
//     hard state (synced) before sending messages, apply only committed
//     entries, then Advance.
//   - Recovery (recovery.go): the rule for a replica that lost part of its
//     log: it neither votes nor campaigns until it has caught up.
//
// It must never import stream/ or server/: the stream layer plugs in as a
// StateMachine and the cluster's routes as a Transport.
package consensus
