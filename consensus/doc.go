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
//   - Storage faults (fatal.go, faults.go, host_faults.go): a raft log
//     that cannot be written or read takes the host out of its groups,
//     never the process down; the host reopens the log and reloads them.
//   - Transport (interfaces.go): how hosts exchange one Batch per peer per
//     loop iteration; MemNetwork (memnet.go) is an in-memory one with the
//     faults tests need.
//
// The fault-injection suite (chaos_test.go) runs clusters of hosts on
// Pebble's crash-simulating filesystem under a seeded scheduler of faults;
// `make chaos` runs it for as long as CHAOS_TIME says.
//
// It must never import stream/ or server/: the stream layer plugs in as a
// StateMachine and the cluster's routes as a Transport.
package consensus
