package sublist

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Sublist indexes subscriptions by subject pattern. T is the caller's
// subscription handle (typically a pointer); equality of T identifies a
// subscription, and a subscription is the triple (subject, queue, v).
//
// A Sublist is safe for concurrent use. Match on a cached subject takes no
// lock; a miss takes the read lock; Insert, Remove take the write lock.
type Sublist[T comparable] struct {
	// Read by every Match; never written after New.
	cache *cache[T]
	empty *Result[T] // shared by every Match that finds nothing
	_     [64]byte   // keep the read-mostly fields off the lines written below

	counters matchCounters

	mu   sync.RWMutex // guards root; see cache for what it orders
	root *node[T]

	gen     atomic.Uint64
	subs    atomic.Int64
	inserts atomic.Uint64
	removes atomic.Uint64
}

// New returns an empty Sublist whose match cache holds about cacheSize
// subjects (rounded up to a multiple of 4); cacheSize <= 0 means
// DefaultCacheSize.
func New[T comparable](cacheSize int) *Sublist[T] {
	return &Sublist[T]{
		cache: newCache[T](cacheSize),
		empty: &Result[T]{},
		root:  &node[T]{},
	}
}

// Insert adds the subscription v on subject, in queue group queue ("" for a
// plain subscription). Inserting a subscription already held is a no-op
// that returns nil. Errors wrap ErrInvalidSubject or ErrInvalidQueue.
func (s *Sublist[T]) Insert(subject, queue string, v T) error {
	if err := check(subject, queue); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root.insert(subject, queue, v) {
		s.subs.Add(1)
		s.editCache(subject, func(r *Result[T]) *Result[T] { return r.with(queue, v) })
	}
	s.inserts.Add(1)
	s.gen.Add(1) // after the cache edit: see Generation
	return nil
}

// Remove deletes the subscription v on subject in queue group queue.
// Errors wrap ErrInvalidSubject or ErrInvalidQueue, or are ErrNotFound.
func (s *Sublist[T]) Remove(subject, queue string, v T) error {
	if err := check(subject, queue); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.root.remove(subject, queue, v) {
		return ErrNotFound
	}
	s.subs.Add(-1)
	s.editCache(subject, func(r *Result[T]) *Result[T] { return s.canon(r.without(queue, v)) })
	s.removes.Add(1)
	s.gen.Add(1)
	return nil
}

// check validates Insert/Remove arguments.
func check(subject, queue string) error {
	if !ValidSubscribeSubject(subject) {
		return fmt.Errorf("%w: %q", ErrInvalidSubject, subject)
	}
	if queue != "" && !ValidQueueName(queue) {
		return fmt.Errorf("%w: %q", ErrInvalidQueue, queue)
	}
	return nil
}

// editCache applies edit to exactly the cached subjects that pattern
// matches: one set probe for a literal pattern, a walk of the cache's
// subject index for a wildcard one. Updating instead of dropping keeps hot
// subjects hit through churn.
func (s *Sublist[T]) editCache(pattern string, edit func(*Result[T]) *Result[T]) {
	if ok, wild := scanSubject(pattern); ok && !wild {
		s.cache.update(pattern, edit)
		return
	}
	s.cache.updateMatching(strings.Split(pattern, "."), edit)
}

// canon maps any empty Result to the shared one.
func (s *Sublist[T]) canon(r *Result[T]) *Result[T] {
	if r.isEmpty() {
		return s.empty
	}
	return r
}

// Match returns the subscriptions that a published subject reaches. The
// Result is never nil, is shared and read-only (see Result), and may be
// kept. A repeated subject is served from the cache without locking or
// allocating. A subject with an empty token matches nothing.
func (s *Sublist[T]) Match(subject []byte) *Result[T] {
	h := s.cache.hash(subject)
	if e := s.cache.get(h, subject); e != nil {
		e.touch()
		s.counters.hit()
		return e.result
	}
	s.counters.miss()
	return s.matchMiss(h, subject)
}

// matchMiss walks the trie and caches the Result. The fill happens under
// the read lock so that no Insert/Remove can slip between computing the
// Result and publishing it, which would leave a stale entry behind.
func (s *Sublist[T]) matchMiss(h uint64, subject []byte) *Result[T] {
	var buf [16][]byte
	toks, ok := split(subject, buf[:0])
	if !ok {
		return s.empty // not a subject; don't let garbage occupy the cache
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.walk(toks)
	s.cache.fill(h, string(subject), r)
	return r
}

// walk computes a fresh Result for a tokenized subject. Callers hold mu.
func (s *Sublist[T]) walk(toks [][]byte) *Result[T] {
	var buf [16]*node[T]
	nodes := s.root.match(toks, buf[:0])
	if len(nodes) == 0 {
		return s.empty
	}
	return collect(nodes)
}

// split cuts subject into tokens, reporting false for an empty subject or
// an empty token.
func split(subject []byte, toks [][]byte) ([][]byte, bool) {
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i < len(subject) && subject[i] != '.' {
			continue
		}
		if i == start {
			return nil, false
		}
		toks = append(toks, subject[start:i])
		start = i + 1
	}
	return toks, true
}

// Generation returns a number that changes on every successful Insert and
// Remove. A caller keeping its own cache of Match results reads Generation
// before calling Match and stores the pair; the Result is still current
// while Generation returns the same number. (Reading it after Match could
// pair an old Result with a new generation.)
func (s *Sublist[T]) Generation() uint64 { return s.gen.Load() }

// Count returns the number of subscriptions held.
func (s *Sublist[T]) Count() int { return int(s.subs.Load()) }

// Stats returns the counters. It takes no lock.
func (s *Sublist[T]) Stats() Stats {
	hits, misses := s.counters.sum()
	maxOut, avg := s.cache.fanout()
	return Stats{
		MaxFanout:    maxOut,
		AvgFanout:    avg,
		Subs:         uint64(s.subs.Load()),
		CacheEntries: uint64(s.cache.n.Load()),
		Matches:      hits + misses,
		CacheHits:    hits,
		CacheMisses:  misses,
		Inserts:      s.inserts.Load(),
		Removes:      s.removes.Load(),
	}
}

// Range calls fn for every subscription until fn returns false. It works
// on a snapshot taken under the read lock, so fn may call back into the
// Sublist and a slow fn never holds up Insert or Remove.
func (s *Sublist[T]) Range(fn func(subject, queue string, v T) bool) {
	type sub struct {
		subject, queue string
		v              T
	}
	var all []sub
	s.mu.RLock()
	s.root.walk(func(n *node[T]) bool {
		for _, v := range n.plain.items {
			all = append(all, sub{n.pattern, "", v})
		}
		for q, set := range n.queues {
			for _, v := range set.items {
				all = append(all, sub{n.pattern, q, v})
			}
		}
		return true
	})
	s.mu.RUnlock()
	for _, x := range all {
		if !fn(x.subject, x.queue, x.v) {
			return
		}
	}
}
