package consensus

import (
	"fmt"
	"strconv"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Recovery of a replica that lost state.
//
// A replica whose log failed verification, lost its tail, or is gone (a
// wiped disk) may have promised things it no longer remembers: it may
// have acknowledged entries that were committed by counting it, and it
// may have voted in a term it no longer knows. Raft's safety assumes
// neither is forgotten. etcd itself does not repair this: a member that
// lost its data must be removed from the cluster and added again under a
// new id. Wisp keeps the replica and its id, and instead follows a rule
// that keeps both promises:
//
//  1. Learn a safe term. The replica asks its peers for their current
//     term and waits for answers from a majority of the group's voters
//     other than itself (in a 3-replica group: both others; in a 5: three
//     of four). Any quorum that counted this replica (for a vote or for a
//     commit) has a majority-minus-one of other members, which must meet
//     any majority of the others: so the highest answer is at least every
//     term in which its forgotten vote or acknowledgement mattered. It
//     adopts that term plus one, with no vote. Replicas recovering
//     themselves do not answer. From then on raft rejects any message
//     from a stale leader, which could otherwise have counted a forgotten
//     acknowledgement again.
//  2. Stay out of elections. Until recovered it does not tick (so never
//     campaigns), drops vote and pre-vote requests and leader transfers.
//     Every leader it follows was therefore elected by a majority of
//     intact replicas, and by raft's leader-completeness argument holds
//     every committed entry, including those only this replica lost.
//  3. Catch up, then rejoin. It accepts appends and snapshots like any
//     follower (acknowledging what it has synced is a promise it keeps).
//     Once its commit index reaches an entry of a term at least the one it
//     adopted, a leader of that term has committed an entry of its own
//     term, so everything committed before is in this replica's log. It
//     then clears its durable recovering mark and votes again.
//
// The mark is written before anything else happens and cleared last, so a
// crash during recovery resumes it. Clearing it is synced: a replica that
// forgot it had recovered would, after a power loss, need a majority of
// the others to answer again, and could wait for ever with a majority of
// the group intact if another replica lost its state in the meantime. Liveness needs a majority of intact
// replicas reachable; a single-replica group has nobody to learn from and
// goes on with what verified.
//
// When a majority of the group's replicas lost state at once (two disks
// of three wiped before either recovered), no replica can tell whether
// the intact ones hold every committed entry, and electing a leader could
// lose acknowledged writes: the group stays without a leader. A replica
// that waits that long says so in the log (stuck, below), again from time
// to time, rather than giving up what it promised.
type recovery struct {
	sinceQuery int
	every      int
	terms      map[uint64]uint64 // peer → term it answered
	adopted    uint64            // the term taken in step 1, once known
	// waited counts the ticks since recovery began; warnAt is when the
	// next warning about a recovery that does not end is due.
	waited, warnAt, electionTicks int
}

// Recovery that has not ended after stuckFirst election timeouts is
// logged as a warning, and again every stuckEvery.
const (
	stuckFirst = 30
	stuckEvery = 300
)

func newRecovery(electionTicks int) *recovery {
	every := max(electionTicks/2, 1)
	return &recovery{every: every, sinceQuery: every, terms: make(map[uint64]uint64),
		warnAt: stuckFirst * electionTicks, electionTicks: electionTicks}
}

func (r *recovery) answer(peer, term uint64) {
	if r.adopted == 0 {
		r.terms[peer] = max(r.terms[peer], term)
	}
}

// tick asks the peers that have not answered, every few ticks, while the
// term is not yet known.
func (r *recovery) tick(h *Host, g *group, out *outbox) {
	r.waited++
	if r.waited >= r.warnAt {
		r.warnAt += stuckEvery * r.electionTicks
		r.stuck(h, g)
	}
	if r.adopted != 0 {
		return
	}
	r.sinceQuery++
	if r.sinceQuery < r.every {
		return
	}
	r.sinceQuery = 0
	for _, p := range g.voters() {
		if _, ok := r.terms[p]; !ok && p != h.cfg.ID {
			out.query(p, g.id)
		}
	}
}

// stuck logs a recovery that has lasted many election timeouts: which
// step it waits in, and for whom.
func (r *recovery) stuck(h *Host, g *group) {
	waited := time.Duration(r.waited) * h.cfg.TickInterval
	if r.adopted == 0 {
		var silent []string
		for _, p := range g.voters() {
			if _, ok := r.terms[p]; !ok && p != h.cfg.ID {
				silent = append(silent, strconv.FormatUint(p, 16))
			}
		}
		h.log.Warn("raft replica that lost state is still recovering: too few peers answer with their terms "+
			"(they are down, cut off, or recovering lost state themselves); it neither votes nor campaigns until "+
			"a majority of the other replicas answer, and if a majority of the group lost state, the group stays "+
			"without a leader rather than risk losing acknowledged writes",
			"group", g.id, "waited", waited, "answers", len(r.terms), "needed", len(g.voters())/2+1, "not_answering", silent)
		return
	}
	var commit, lead uint64
	if g.rn != nil {
		st := g.rn.BasicStatus()
		commit, lead = st.GetCommit(), st.Lead
	}
	h.log.Warn("raft replica that lost state is still recovering: no leader has yet committed an entry of the term "+
		"it adopted, which needs a majority of replicas with intact state; it neither votes nor campaigns until one has, "+
		"and if a majority of the group lost state, the group stays without a leader rather than risk losing acknowledged writes",
		"group", g.id, "waited", waited, "adopted_term", r.adopted, "commit", commit, "leader", strconv.FormatUint(lead, 16))
}

// voters are the group's voters: its stored configuration, or the peers
// it was added with.
func (g *group) voters() []uint64 {
	if v := g.gs.ConfState().GetVoters(); len(v) > 0 {
		return v
	}
	return g.peers
}

// startIfRecovered runs step 1's conclusion: once a majority of the other
// voters answered, it adopts the term, durably, and starts raft (still
// recovering).
func (g *group) startIfRecovered(h *Host) error {
	r := g.recovery
	if r == nil || g.rn != nil {
		return nil
	}
	voters := g.voters()
	term, _, commit := g.gs.HardState()
	b := h.cfg.Store.NewBatch()
	defer b.Close()
	if len(voters) <= 1 {
		// Nobody to learn from: go on with what verified.
		if err := b.setRecovering(g.gs, false); err != nil {
			return err
		}
		if err := b.Commit(true); err != nil {
			return err
		}
		g.recovery = nil
		return g.startRaft(h)
	}
	if len(r.terms) < len(voters)/2+1 {
		return nil
	}
	for _, t := range r.terms {
		term = max(term, t)
	}
	r.adopted = term + 1
	b.SetHardState(g.gs, &pb.HardState{Term: new(r.adopted), Vote: new(uint64(0)), Commit: new(commit)})
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("consensus: group %d: adopt term: %w", g.id, err)
	}
	h.log.Info("recovering raft replica adopts a term above its peers'", "group", g.id, "term", r.adopted, "answers", len(r.terms))
	return g.startRaft(h)
}

// maybeFinishRecovery runs step 3's conclusion, in post; ended says the
// recovery ended (the host then syncs post: a replica that forgot it had
// recovered would need a majority of the others to answer again).
func (g *group) maybeFinishRecovery(h *Host, post *WriteBatch) (ended bool, err error) {
	r := g.recovery
	if r == nil || g.rn == nil {
		return false, nil
	}
	st := g.rn.BasicStatus()
	commit := st.GetCommit()
	if st.Lead == 0 || commit == 0 || g.applied < commit {
		return false, nil
	}
	t, err := g.gs.Term(commit)
	if err != nil || t < r.adopted {
		return false, nil
	}
	if err := post.setRecovering(g.gs, false); err != nil {
		return false, fmt.Errorf("consensus: group %d: %w", g.id, err)
	}
	g.recovery = nil
	h.log.Info("raft replica recovered: it votes again", "group", g.id, "commit", commit, "term", t)
	return true, nil
}
