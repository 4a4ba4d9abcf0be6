package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisp-mq/wisp/consensus"
	"github.com/wisp-mq/wisp/stream/store"
)

// A replicated stream (num_replicas > 1 on a clustered server) keeps the
// state machine of a local stream and puts a raft log in front of it.
//
// The replica is the stream's Store (seam.go): the stream's code submits
// its operations as it always does, and the replica proposes each
// encoded operation (publishes, API changes, expiry, TTLs, schedules,
// atomic batches: every Op that is a logged one) to the stream's raft
// group instead of applying it. Committed entries come back through
// Apply, on every replica in log order, and are applied through the
// stream's one entry point (apply.go) on the local store. On the leader,
// an entry it proposed itself is applied as the very Op that was
// submitted, so its Done (a PubAck, an API answer) runs only after the
// entry committed in raft (a quorum holds it, synced by the host's rule)
// and its effects committed in the local store (synced by the store's).
//
// Applied index. Every logged Op's batch also records the entry's index
// (store.Batch.PutApplied), so the stream's state and the index it
// holds commit together: a restart resumes after it (Applied) and the
// host replays the log's later entries; an entry is never applied twice
// nor skipped. Apply does not wait for the local commit: the host may
// count an entry applied before the store holds it, which only matters
// to Snapshot, which waits for the store first.
//
// Operations that are not logged (a consumer's flush, a rebuild, a
// snapshot's freeze) stay local, straight to the local store.
type replica struct {
	Store // the local store the stream's data lives in
	s     *stream
	group uint64

	cl     Cluster // nil until replication opens the replica
	hostID uint64
	leader atomic.Bool
	// leaderSince is when this server last became the group's leader
	// (unix nanoseconds), the cluster section's leader_since.
	leaderSince atomic.Int64
	// token numbers this incarnation's proposals; it starts at a
	// random value (base) so that an entry proposed before a restart
	// never matches a pending Op of this one.
	token   atomic.Uint64
	base    uint64
	mu      sync.Mutex
	pending map[uint64]store.Op // submitted here, not yet applied, by token
	waits   chan proposalWait
	stop    chan struct{}
	stopped sync.Once

	// broken: a committed entry could not be applied locally; later
	// entries are not applied on top of a state that misses it.
	broken atomic.Bool
}

// logged is an operation a replicated stream sends through its log.
type logged interface{ logEntry() []byte }

func (p *pubOp) logEntry() []byte    { return p.enc }
func (o *streamOp) logEntry() []byte { return o.enc }
func (o *batchOp) logEntry() []byte  { return o.enc }

// errNotLeader fails an operation submitted to a replica that does not
// lead its stream's group. It wraps store.ErrNotApplied: nothing was
// applied, and the stream is not faulted by it (settle).
var errNotLeader = fmt.Errorf("%w: this server does not lead the stream", store.ErrNotApplied)

type proposalWait struct {
	token uint64
	p     *consensus.Proposal
}

func newReplica(s *stream, under Store, group uint64) *replica {
	r := &replica{Store: under, s: s, group: group, pending: map[uint64]store.Op{},
		waits: make(chan proposalWait, 4096), stop: make(chan struct{})}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	r.base = binary.BigEndian.Uint64(seed[:]) >> 1 // room to count up without wrapping
	r.token.Store(r.base)
	go r.watch()
	return r
}

// attach gives the replica its cluster, once replication opens it.
func (r *replica) attach(cl Cluster) {
	r.mu.Lock()
	r.cl = cl
	r.hostID = cl.Host().ID()
	r.mu.Unlock()
}

func (r *replica) cluster() Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cl
}

// Submit proposes a logged Op through the stream's group (leader only)
// and passes any other straight to the local store.
func (r *replica) Submit(op store.Op) {
	l, ok := op.(logged)
	if !ok {
		r.Store.Submit(op)
		return
	}
	cl := r.cluster()
	if cl == nil || !r.leader.Load() || r.broken.Load() {
		op.Done(errNotLeader)
		return
	}
	tok, data := r.entry(l.logEntry(), 0)
	r.mu.Lock()
	r.pending[tok] = op
	r.mu.Unlock()
	p := cl.Host().Propose(r.group, data)
	select {
	case r.waits <- proposalWait{tok, p}:
	case <-r.stop:
		r.fail(tok, consensus.ErrStopped)
	}
}

// An entry's data is the proposer's token (8 bytes), flags (1 byte) and
// the encoded operation. No flag is set today: every entry, a
// consumer's operations included, applies from the log alone. (Servers
// before that flagged, with bit 0, consumer operations their proposer
// had applied already; such an entry is applied as any other.)
const entryHeader = 9

func (r *replica) entry(enc []byte, flags byte) (uint64, []byte) {
	data := make([]byte, entryHeader+len(enc))
	tok := r.token.Add(1)
	binary.BigEndian.PutUint64(data, tok)
	data[8] = flags
	copy(data[entryHeader:], enc)
	return tok, data
}

// Close stops the replica: the Ops still waiting for their entries fail
// (nobody would finish them). It leaves the shared local store open: the
// Service closes it.
func (r *replica) Close() error {
	r.stopped.Do(func() {
		close(r.stop)
		r.mu.Lock()
		pending := r.pending
		r.pending = map[uint64]store.Op{}
		r.mu.Unlock()
		for _, op := range pending {
			op.Done(fmt.Errorf("%w: %w", store.ErrNotApplied, consensus.ErrStopped))
		}
	})
	return nil
}

// watch fails the Ops whose proposals failed (not the leader any more,
// leadership lost, host stopped); proposals complete in order, so one
// goroutine waits for each in turn. An Op whose entry commits is done by
// the local store after Apply, not here.
func (r *replica) watch() {
	for {
		select {
		case w := <-r.waits:
			select {
			case <-w.p.Done():
			case <-r.stop:
				r.fail(w.token, consensus.ErrStopped)
				continue
			}
			if _, err := w.p.Wait(context.Background()); err != nil {
				r.fail(w.token, err)
			}
		case <-r.stop:
			return
		}
	}
}

// fail ends a pending Op with a proposal's error, unless Apply took it.
// The entry may still commit later under another leader: then every
// replica applies it as any other, and the client, told it failed, may
// publish again (a message id makes that safe).
func (r *replica) fail(token uint64, err error) {
	r.mu.Lock()
	op := r.pending[token]
	delete(r.pending, token)
	r.mu.Unlock()
	if op != nil {
		op.Done(fmt.Errorf("%w: %w", store.ErrNotApplied, err))
	}
}

// Applied is the index of the last entry the local store holds.
func (r *replica) Applied() uint64 {
	index, err := r.Store.Reader().Applied(r.s.id)
	if err != nil {
		r.s.svc.log.Error("reading a replicated stream's applied index", "stream", r.s.name, "err", err)
	}
	return index
}

// Apply applies committed entries, in order, through the local store's
// writer. It runs on the consensus host's loop and does not wait for the
// commits (see the type's comment).
func (r *replica) Apply(ents []consensus.Entry) ([]any, error) {
	for i, e := range ents {
		if len(e.Data) < entryHeader {
			// Raft's own entries (a leader's first, a membership change)
			// change nothing here, but the last one's index is recorded
			// as applied: the host snapshots at once after a membership
			// change, and the state this store writes for it (WriteState)
			// must name the snapshot's index, or a new replica sent them
			// would refuse the state as older than the snapshot.
			if i == len(ents)-1 && !r.broken.Load() {
				r.Store.Submit(&appliedOp{inner: raftEntryOp{}, r: r, index: e.Index})
			}
			continue
		}
		if r.broken.Load() {
			return nil, nil
		}
		var op store.Op
		if e.Proposer == r.hostID {
			tok := binary.BigEndian.Uint64(e.Data)
			r.mu.Lock()
			op = r.pending[tok]
			delete(r.pending, tok)
			r.mu.Unlock()
		}
		if op == nil {
			op = newLogOp(r.s, bytes.Clone(e.Data[entryHeader:]))
		}
		r.Store.Submit(&appliedOp{inner: op, r: r, index: e.Index})
	}
	return nil, nil
}

// raftEntryOp is the store's part of one of raft's own entries: none.
type raftEntryOp struct{}

func (raftEntryOp) Apply(*store.Batch) error { return nil }
func (raftEntryOp) Done(error)               {}

// appliedOp applies one committed entry and records its index in the
// same batch.
type appliedOp struct {
	inner store.Op
	r     *replica
	index uint64
}

// Apply applies the entry, then writes what the stream's consumers
// changed in memory (their acknowledgement kinds change only memory,
// see consumer_store.go) and the entry's index, so that the index never
// covers consumer changes the store does not hold: a restart that
// resumes after it loses none of them.
func (o *appliedOp) Apply(b *store.Batch) error {
	err := o.inner.Apply(b)
	if err != nil && !errors.Is(err, errRejected) {
		return err
	}
	for _, c := range o.r.s.cons.all() {
		if ferr := c.flushDirty(b); ferr != nil {
			return ferr
		}
	}
	if perr := b.PutApplied(o.r.s.id, o.index); perr != nil {
		return perr
	}
	return err
}

// Replayable tells the local store it need not fsync the entry before
// its Done (the PubAck): the raft log holds it, fsynced on a majority
// before it committed, and after a power loss the host replays the
// entries above Applied, which this very batch records. The log is
// compacted only after Snapshot, whose barrier is a synced commit, so it
// never drops an entry the store could still lose.
func (o *appliedOp) Replayable() bool { return true }

// logOp applies an entry no local proposer waits for (a follower's, or
// one proposed before a restart), doing afterwards what the proposer
// would: start a consumer it created, stop one it removed.
type logOp struct {
	s       *stream
	enc     []byte
	kind    opKind
	res     opResult
	removed *consumer
}

func newLogOp(s *stream, enc []byte) *logOp {
	o := &logOp{s: s, enc: enc}
	if k, _, _, err := opHeader(enc); err == nil {
		o.kind = k
	}
	return o
}

func (o *logOp) Apply(b *store.Batch) error {
	switch o.kind {
	case kindConsumerCreate, kindConsumerRemove, kindConsumerUpdate, kindConsumerPause:
		// The consumer set changes under its lock, as an API proposer
		// holds it.
		o.s.cons.mu.Lock()
		defer o.s.cons.mu.Unlock()
		if o.kind == kindConsumerRemove {
			if _, name, _, err := opHeader(o.enc); err == nil {
				o.removed = o.s.cons.byName[string(name)]
			}
		}
	}
	return o.s.apply(b, o.enc, nil, &o.res)
}

func (o *logOp) FreesSpace() bool { return o.kind == kindConsumerRemove || o.kind == kindStreamDelete }

func (o *logOp) Done(err error) {
	o.s.settle(err)
	if o.s.hasMarkersToWake() {
		o.s.wakeMarkers()
	}
	if err != nil {
		return
	}
	if c := o.res.cons; c != nil {
		c.est.Store(int64(c.countPending(c.position())))
		if serr := c.start(); serr != nil {
			o.s.svc.log.Error("starting a replicated consumer", "stream", o.s.name, "consumer", c.name, "err", serr)
		}
	}
	if o.removed != nil {
		o.removed.stop(false)
	}
	if o.kind == kindPublish || o.kind == kindBatch {
		o.s.wakeConsumers(o.res.subject)
	}
}

func (o *appliedOp) FreesSpace() bool { return freesSpace(o.inner) }

func (o *appliedOp) Done(err error) {
	if err != nil && !errors.Is(err, errRejected) && !errors.Is(err, store.ErrClosed) {
		// The local store did not take a committed entry: applying the
		// entries after it would build a state no other replica has.
		// The replica stops applying; a restart of the server resumes
		// after the last entry its store holds (Applied).
		if !o.r.broken.Swap(true) {
			o.r.s.svc.log.Error("a replicated stream could not apply a committed entry; it stops applying until restarted",
				"stream", o.r.s.name, "index", o.index, "err", err)
		}
	}
	o.inner.Done(err)
}

// freesSpace reports whether op only removes data (store.Op's optional
// FreesSpace).
func freesSpace(op store.Op) bool {
	f, ok := op.(interface{ FreesSpace() bool })
	return ok && f.FreesSpace()
}

// barrier waits until every Op submitted to the local store before it
// has been committed, and (not being Replayable) fsynced: the raft log
// may then be compacted through what it covers.
func (r *replica) barrier() error {
	return r.Store.DoFreeing(func(*store.Batch) error { return nil })
}

// stateDescriptor is all a replicated stream's raft snapshots hold: the
// stream itself travels beside raft's snapshot message, written by
// WriteState and installed by RestoreState (consensus.StateStreamer), so
// that neither the host's loop nor memory ever holds a whole stream.
var stateDescriptor = []byte("wisp stream state v1")

// Snapshot returns the descriptor raft keeps in the place of the stream's
// state, once the local store has committed and fsynced every entry
// Apply handed it (barrier): the host compacts the log behind the
// snapshot, and the store does not fsync the entries it applies
// (appliedOp is Replayable), so without the barrier a power loss could
// leave the store behind the log's new start with nothing to replay
// from, and the replica would start empty.
func (r *replica) Snapshot() ([]byte, error) {
	if err := r.barrier(); err != nil {
		return nil, fmt.Errorf("stream %s: snapshot: %w", r.s.name, err)
	}
	return stateDescriptor, nil
}

// WriteState writes the stream as an archive (archive.go) with its
// consumers into w, as of the last entry the local store committed, once
// it committed everything Apply handed it before the call; it returns
// that entry's index. It runs off the host's loop (the transport calls
// it for a peer being sent a snapshot) and reads the store a record at a
// time from a store snapshot, while the stream goes on.
func (r *replica) WriteState(w io.Writer) (uint64, error) {
	// Counted, so that the Service's Close waits for it before closing
	// the store it reads: the transport's goroutine may outlive the
	// layer (an account's layer closes on a reload while replication
	// runs on).
	svc := r.s.svc
	if !svc.stateWrites.enter() {
		return 0, fmt.Errorf("stream %s: write state: %w", r.s.name, errLayerClosing)
	}
	defer svc.stateWrites.exit()
	w = closingWriter{w: w, svc: svc}
	if err := r.barrier(); err != nil {
		return 0, fmt.Errorf("stream %s: write state: %w", r.s.name, err)
	}
	f, err := r.s.freeze()
	if err != nil {
		return 0, fmt.Errorf("stream %s: write state: %w", r.s.name, err)
	}
	defer f.release()
	index, err := f.r.Applied(f.id)
	if err != nil {
		return 0, fmt.Errorf("stream %s: write state: %w", r.s.name, err)
	}
	if err := writeArchive(newArchiveWriter(w), f, true); err != nil {
		return 0, fmt.Errorf("stream %s: write state: %w", r.s.name, err)
	}
	return index, nil
}

// Restore empties the stream (index 0, no data: the host starts the
// replica over) or installs an archive held in memory.
func (r *replica) Restore(data []byte, index uint64) error {
	if bytes.Equal(data, stateDescriptor) {
		return fmt.Errorf("stream %s: the snapshot at %d holds no state: it comes beside raft's message", r.s.name, index)
	}
	if len(data) == 0 {
		return r.s.restoreReplica(nil, index)
	}
	return r.s.restoreReplica(bytes.NewReader(data), index)
}

// RestoreState replaces the stream's state with an archive a peer's
// WriteState wrote at index, read a batch of messages at a time
// (replica_restore.go).
func (r *replica) RestoreState(rd io.Reader, index uint64) error {
	return r.s.restoreReplica(rd, index)
}

var _ consensus.StateStreamer = (*replica)(nil)

// LeaderChanged is told whether this server now leads the stream's
// group: only the leader captures the stream's subjects (through
// subscriptions whose interest reaches the other servers, so their
// clients' publishes come here) and runs its mirrors and sources.
func (r *replica) LeaderChanged(isLeader bool) {
	if isLeader && !r.leader.Load() {
		r.settleBeforeLeading()
	}
	if r.leader.Swap(isLeader) == isLeader {
		return
	}
	s, svc := r.s, r.s.svc
	if isLeader {
		r.leaderSince.Store(svc.clock.Now().UnixNano())
	}
	svc.mu.Lock()
	defer func() {
		svc.mu.Unlock()
		if isLeader && svc.lookup(s.name) == s {
			go svc.leaderElected(s) // asks the host: not from its loop's callers
		}
	}()
	if svc.streams[s.name] != s {
		return
	}
	if !isLeader {
		svc.unsubscribeAll(s)
		svc.log.Info("no longer leads replicated stream", "stream", s.name)
		return
	}
	s.mu.RLock()
	subjects := s.cfg.Subjects
	s.mu.RUnlock()
	if err := svc.subscribe(s, subjects); err != nil {
		svc.log.Error("subscribing a replicated stream's subjects", "stream", s.name, "err", err)
	}
	// The stream's timers and the consumers' drivers take over: a
	// follower's timers propose nothing (not the leader) and stop, so
	// what came due while following is due now, and whatever waits is
	// delivered.
	now := svc.clock.Now()
	s.rearmTimers(now.UnixNano())
	for _, c := range s.cons.all() {
		c.mu.Lock()
		c.active = now // its inactivity is measured from here: the follower saw none of its use
		c.takeOverLocked()
		c.rearmLocked(now)
		// Messages held for their dead-letter copy: the driver that
		// asked for it led before, and its give-up could not commit.
		held := c.heldJobsLocked()
		c.mu.Unlock()
		if len(held) > 0 {
			c.queueDeadLetters(held)
		}
		c.wake()
	}
	svc.log.Info("leads replicated stream", "stream", s.name)
}

// settleBeforeLeading waits, before this server acts as the stream's
// leader, until every entry committed before its election is applied
// to the local store: its drivers and API handlers then decide from the
// whole state, and no entry another server proposed is still queued
// behind an API change this server proposes (that entry could need a
// lock the API handler holds). A failure is logged; the server leads
// anyway rather than leave the stream without a leader.
func (r *replica) settleBeforeLeading() {
	cl := r.cluster()
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cl.Host().ReadIndex(ctx, r.group)
	if err == nil {
		err = r.barrier()
	}
	if err != nil {
		r.s.svc.log.Warn("a new stream leader could not wait for the entries before it", "stream", r.s.name, "err", err)
	}
}

// rearmTimers arms the stream's expiry, TTL and schedule timers for
// what is due, as a new leader must.
func (s *stream) rearmTimers(now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return
	}
	if s.cfg.MaxAge > 0 && s.state.msgs > 0 {
		s.armExpiry(time.Duration(s.state.firstTime + int64(s.cfg.MaxAge) - now))
	}
	if t := s.ttls; t != nil && len(t.due) > 0 {
		s.armTTL(t.due[0].at, now)
	}
	if s.sched != nil {
		s.sched.armedAt = 0
		s.armSchedules(now)
	}
}

// localStore is the store the stream's data lives in: its replica's
// for a replicated stream.
func (s *stream) localStore() Store {
	if s.repl != nil {
		return s.repl.Store
	}
	return s.st
}

// isLeader reports whether the stream is local, or replicated and led
// by this server.
func (s *stream) isLeader() bool { return s.repl == nil || s.repl.leader.Load() }

// errLayerClosing is the error of work refused or cut short because the
// Service is closing.
var errLayerClosing = errors.New("stream: the stream layer is closing")

// closingWriter fails its writes once the Service is closing, so that a
// state being written for a peer ends instead of holding Close up.
type closingWriter struct {
	w   io.Writer
	svc *Service
}

func (c closingWriter) Write(p []byte) (int, error) {
	if c.svc.closing.Load() {
		return 0, errLayerClosing
	}
	return c.w.Write(p)
}
