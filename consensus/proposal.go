package consensus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

var (
	// ErrStopped: the host stopped before the request completed.
	ErrStopped = errors.New("consensus: host stopped")
	// ErrUnknownGroup: the host does not run that group.
	ErrUnknownGroup = errors.New("consensus: unknown group")
	// ErrLeadershipLost: this replica stopped being leader (or its term
	// changed) before the proposal committed. The entry may still commit
	// under the next leader: the outcome is unknown, so a client retrying
	// must make the retry idempotent (Wisp's message ids do).
	ErrLeadershipLost = errors.New("consensus: leadership lost before commit")
	// ErrDropped: raft refused the proposal (no leader, or flow control).
	ErrDropped = errors.New("consensus: proposal dropped")
	// ErrQueueFull: the host's request queue holds Config.RequestLimit
	// requests already (its loop is behind); nothing was done, so the
	// caller may retry later.
	ErrQueueFull = errors.New("consensus: host request queue full")
)

// NotLeaderError is returned for a proposal made on a replica that is not
// the leader; Leader is the leader it knows of (0: none).
type NotLeaderError struct{ Group, Leader uint64 }

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("consensus: group %d: not the leader (leader %d)", e.Group, e.Leader)
}

// Result is where a committed proposal landed, and what the state machine
// answered for it.
type Result struct {
	Index, Term uint64
	Value       any
}

// Proposal is the future of Host.Propose: it completes once the entry is
// committed and applied on this replica, or fails.
type Proposal struct {
	done chan struct{}
	res  Result
	err  error
}

func newProposal() *Proposal { return &Proposal{done: make(chan struct{})} }

func (p *Proposal) finish(res Result, err error) {
	p.res, p.err = res, err
	close(p.done)
}

// Done is closed when the proposal completes.
func (p *Proposal) Done() <-chan struct{} { return p.done }

// Wait blocks until the proposal completes or ctx ends. A ctx ending says
// nothing about the proposal's fate.
func (p *Proposal) Wait(ctx context.Context) (Result, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Proposals travel in the log with a header naming the proposing host and
// its sequence number, so that the proposer recognises its own entries
// when they commit.
const envelopeSize = 16

func wrapProposal(host, seq uint64, data []byte) []byte {
	out := make([]byte, envelopeSize, envelopeSize+len(data))
	binary.BigEndian.PutUint64(out, host)
	binary.BigEndian.PutUint64(out[8:], seq)
	return append(out, data...)
}

// unwrapProposal splits an entry's data; ok is false for data that no
// host proposed (raft's own entries).
func unwrapProposal(b []byte) (host, seq uint64, data []byte, ok bool) {
	if len(b) < envelopeSize {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), b[envelopeSize:], true
}
