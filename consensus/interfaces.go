package consensus

import pb "go.etcd.io/raft/v3/raftpb"

// Entry is a committed log entry as the state machine sees it.
type Entry struct {
	Index, Term uint64
	// Data is what was proposed; nil for raft's own entries (the empty
	// entry a new leader appends, configuration changes), which the state
	// machine must still count as applied.
	Data []byte
	// Proposer is the host whose Propose created the entry (0 for raft's
	// own entries).
	Proposer uint64
}

// StateMachine is what a group replicates. The host calls it from its loop
// goroutine only, one call at a time.
//
// Entries arrive in log order, each exactly once per incarnation of the
// state: after a restart the host resumes after Applied(). Apply must be
// deterministic (same entries, same state on every replica).
type StateMachine interface {
	// Applied is the index of the last entry whose effect is durable; the
	// host asks once, when the group is added.
	Applied() uint64
	// Apply applies committed entries, in order, and may return one result
	// per entry (or nil): the result of an entry this host proposed is
	// handed to its Proposal (a stream's publish gives the sequence it
	// stored). An error stops the host: a replica that cannot apply must
	// not go on.
	Apply(ents []Entry) ([]any, error)
	// Snapshot returns the state as of the last applied entry. The bytes
	// are stored in the log's snapshot record and may be sent to a
	// follower that is too far behind.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with a snapshot taken at index;
	// index 0 and nil data mean the empty state.
	Restore(data []byte, index uint64) error
}

// Message is one raft message of one group.
type Message struct {
	Group uint64
	Raft  *pb.Message
	// State is the state received beside a MsgSnap of a group whose state
	// machine is a StateStreamer (state_stream.go); nil otherwise.
	State *SnapshotState
}

// TermReply answers a TermQuery (recovery.go).
type TermReply struct {
	Group, Term uint64
}

// Batch is what one host sends another in one loop iteration: every raft
// message for that peer, of every group, plus recovery queries.
type Batch struct {
	From, To    uint64
	Messages    []Message
	TermQueries []uint64 // groups whose term the sender asks for
	TermReplies []TermReply
}

// Transport carries batches between hosts. Send is called from the host's
// loop goroutine and must not block on the network: it may queue, and it
// may drop (raft retransmits). The batch is the transport's to keep, but
// the raft messages in it share entry data with the sender's log and must
// be encoded (or deep-copied) before Send returns, never mutated.
//
// Inbound batches reach the destination through Host.Receive.
type Transport interface {
	Send(b Batch)
}

// SnapshotReporter is a Transport that tells the host the fate of every
// snapshot message it is handed, through Host.ReportSnapshot, once it
// knows it (all of the snapshot on its way to the peer, or not). Raft
// holds a follower that is being sent a snapshot until it hears: a
// failure makes it send the snapshot again. A Transport that is not a
// SnapshotReporter has every snapshot it was handed taken as sent.
type SnapshotReporter interface {
	Transport
	// ReportsSnapshots is a marker: the transport calls ReportSnapshot.
	ReportsSnapshots()
}
