package sublist

// indexThreshold is the size above which a subSet keeps a position index.
// Below it a linear scan beats hashing and saves a map per trie node, which
// matters with 100k subscriptions on 100k distinct subjects.
const indexThreshold = 16

// subSet holds the subscriptions at one trie node (plain, or one queue
// group). items is kept dense so Match copies it with one append; index
// makes Remove O(1) for fan-out subjects with thousands of subscribers.
type subSet[T comparable] struct {
	items []T
	index map[T]int // position in items; nil while len(items) <= indexThreshold
}

func (s *subSet[T]) len() int { return len(s.items) }

// find returns v's position in items, or -1.
func (s *subSet[T]) find(v T) int {
	if s.index != nil {
		if i, ok := s.index[v]; ok {
			return i
		}
		return -1
	}
	for i, x := range s.items {
		if x == v {
			return i
		}
	}
	return -1
}

// add inserts v and reports whether it was absent.
func (s *subSet[T]) add(v T) bool {
	if s.find(v) >= 0 {
		return false
	}
	s.items = append(s.items, v)
	if s.index != nil {
		s.index[v] = len(s.items) - 1
	} else if len(s.items) > indexThreshold {
		s.index = make(map[T]int, len(s.items))
		for i, x := range s.items {
			s.index[x] = i
		}
	}
	return true
}

// remove deletes v by moving the last item into its place, and reports
// whether v was present. Order is not part of the contract.
func (s *subSet[T]) remove(v T) bool {
	i := s.find(v)
	if i < 0 {
		return false
	}
	last := len(s.items) - 1
	moved := s.items[last]
	s.items[i] = moved
	var zero T
	s.items[last] = zero // drop the reference for the GC
	s.items = s.items[:last]
	if s.index != nil {
		delete(s.index, v)
		if i != last {
			s.index[moved] = i
		}
		if len(s.items) <= indexThreshold/2 {
			s.index = nil // hysteresis: don't rebuild on every add/remove at the edge
		}
	}
	return true
}
