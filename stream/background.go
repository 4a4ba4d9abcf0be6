package stream

import "sync"

// background counts work that reads or writes the stores and that no
// API call or consumer owns: goroutines the layer starts on its own (a
// faulted stream's recovery, a consumer's dead-letter copies) and calls
// from replication's goroutines (a replica's state sent to a peer). Pebble panics when
// used after its Close, so Service.Close stops each set (no new one
// starts) and waits for those running before it closes the stores. The
// lock is taken only when such work starts, never on a publish.
type background struct {
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// start runs fn on a goroutine of its own unless the set was stopped;
// it reports whether fn runs.
func (b *background) start(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	// Added under mu, so that stop's Wait never races an Add from zero.
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// enter counts work done on the caller's goroutine, unless the set was
// stopped; each enter that reports true is matched by an exit.
func (b *background) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *background) exit() { b.wg.Done() }

// stop lets no more work start and waits for what runs.
func (b *background) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.wg.Wait()
}

// isStopped reports whether stop was called (tests).
func (b *background) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}
