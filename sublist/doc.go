// Package sublist is the subject index that routes every published message:
// given a subject, it returns the subscriptions that must receive it.
//
// # Model
//
// Subjects are '.'-separated tokens ("orders.eu.created"). A subscription
// pattern may use two wildcard tokens: '*' matches exactly one token, and
// '>', allowed only as the last token, matches one or more. A wildcard is a
// whole token: "foo*" is a literal token, as in nats-server. A
// subscription is the triple (subject, queue, v): queue "" makes it plain,
// otherwise it joins that queue group; v is the caller's handle, and
// equality of v identifies the subscription.
//
// Match returns a Result: every plain subscription that matches, and each
// matching queue group once, with the members gathered from all its
// matching patterns. Delivery is the caller's business: every plain
// subscription gets the message, one member of each group gets it.
//
// # Results are shared and immutable
//
// A Result may be handed to any number of callers at once and may be kept
// indefinitely. Callers must never modify one (not the slices, not their
// elements). In exchange the package never modifies a Result after it has
// been returned: when a subscription change affects a cached subject, a
// new Result is built (copy on write) and swapped in; holders of the old
// one keep a consistent, if outdated, view. Every Match that finds nothing
// returns the same empty Result.
//
// Callers that keep their own per-connection cache of Results can check it
// with one atomic load: read Generation before Match, keep the pair, and
// trust the Result while Generation still returns the same number.
//
// # The cache
//
// Behind Match is a bounded cache of Results keyed by subject: a fixed
// array of atomic pointers, 4-way set associative, with CLOCK eviction
// within each set. A hit is a hash, a few atomic loads and a string
// compare. Insert and Remove fix exactly the cached subjects their pattern
// matches, and unrelated hot subjects stay cached, with the very same
// Result. A literal pattern probes one set. A wildcard one finds its
// subjects through a reverse index of the cached subjects' tokens, so it
// costs time in proportion to the entries it matches, not to the cache
// size. A miss only marks the slot it fills; the next wildcard change
// reindexes the marked slots, or after heavy churn some of them, checking
// the rest directly, so it never costs much more than a scan of the cache.
// A miss walks the trie and fills the cache under the read lock, so no
// change can land between computing a Result and publishing it. A flood of
// distinct subjects evicts entries one at a time, mostly each other, while
// hot subjects keep their place; the cache is never cleared.
//
// # What sublist must never do
//
//   - Block a reader on a cache hit: a hit takes no lock at all and never
//     waits for a writer. A miss waits at most for one Insert/Remove.
//   - Allocate on a cache hit, including a hit on a cached empty Result, or
//     for a subject with an empty token; see the AllocsPerRun tests.
//   - Write to memory shared between cores on every hit: the only writes
//     are a per-entry ref bit set once per eviction sweep and a counter in
//     one of several padded stripes.
//   - Modify a Result that has been returned.
//   - Grow the cache past its capacity, or clear it to make room; the
//     index of cached subjects holds no more subjects than the cache.
//   - Start goroutines, do I/O, or import anything from this module: it is
//     a data structure, tested on its own.
package sublist
