package consensus

// Terms of the stored entries, kept in memory.
//
// raft asks Storage.Term for an entry it already persisted each time the
// leader hears an append acknowledged (matchTerm, before advancing the
// commit index), and a follower for each append it receives. Read from
// Pebble, every such call opens an iterator and decodes the entry, often
// from a compressed sstable block: under a stream of publishes that was
// most of a leader's CPU. A log's terms change rarely (once per election),
// so the terms of a contiguous run of its entries fit in a few pairs.

// termRun says that the entries from index first on (up to the next run's
// first, or the log's last entry) have term term.
type termRun struct{ first, term uint64 }

// maxTermRuns bounds the runs a group keeps: past it (many elections
// inside the retained log), they restart at the entries being appended,
// and older terms are read from Pebble again.
const maxTermRuns = 64

// termOf returns the term of entry i from runs, which cover the entries
// from runs[0].first through last; ok is false when they do not cover i.
func termOf(runs []termRun, i, last uint64) (term uint64, ok bool) {
	if len(runs) == 0 || i < runs[0].first || i > last {
		return 0, false
	}
	for k := len(runs) - 1; k >= 0; k-- {
		if runs[k].first <= i {
			return runs[k].term, true
		}
	}
	return 0, false
}

// appendTermRuns returns runs after entries from first on, with the given
// terms in order, replaced every entry at or after first (raft's append).
// runs must cover the log contiguously up to first-1 (or be empty): the
// result then covers it through the last new entry. The result never
// shares an array with runs that it writes to, since an older group state
// may still read runs.
func appendTermRuns(runs []termRun, first uint64, terms func(yield func(uint64) bool)) []termRun {
	keep := 0
	for keep < len(runs) && runs[keep].first < first {
		keep++
	}
	if keep == 0 || len(runs) >= maxTermRuns {
		runs, keep = nil, 0
	}
	out := runs[:keep:keep] // a full slice: the next append copies
	index := first
	terms(func(t uint64) bool {
		if len(out) == 0 || out[len(out)-1].term != t {
			out = append(out, termRun{index, t})
		}
		index++
		return true
	})
	return out
}
