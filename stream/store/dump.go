package store

import "fmt"

// Dump calls fn with every key and value in the store, in key order: the
// whole stored state, as replay and metamorphic tests compare it. fn must
// not keep key or value after it returns.
func (r Reader) Dump(fn func(key, value []byte) error) error {
	src, h := r.src()
	defer h.release()
	it, err := src.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store: dump: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}
