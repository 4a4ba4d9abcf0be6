package server

import (
	"sync"
	"time"
)

// loginThrottle slows password guessing on the console: each client
// address gets a few free failures, then must wait before the next
// attempt, the wait doubling with every further failure up to a ceiling.
// While it waits, attempts are refused without looking at the password, so
// a guesser learns nothing and costs the server no bcrypt work. A success
// clears the address's record. The table is bounded: when full, the record
// idle longest goes.
type loginThrottle struct {
	mu      sync.Mutex
	clients map[string]*loginFailures
	now     func() time.Time
}

type loginFailures struct {
	count   int
	last    time.Time
	blocked time.Time // no attempt before this
}

const (
	loginFreeFailures = 5
	loginMaxWait      = 5 * time.Minute
	loginForget       = 15 * time.Minute // a record this old is dropped
	loginMaxClients   = 10000
)

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{clients: make(map[string]*loginFailures), now: time.Now}
}

// wait returns how long the client must still wait before it may try; zero
// means now.
func (t *loginThrottle) wait(client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.clients[client]
	if f == nil {
		return 0
	}
	return max(f.blocked.Sub(t.now()), 0)
}

// failed records a failure and returns the wait it imposes.
func (t *loginThrottle) failed(client string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.clients[client]
	if f == nil || now.Sub(f.last) > loginForget {
		t.makeRoom(now)
		f = &loginFailures{}
		t.clients[client] = f
	}
	f.count++
	f.last = now
	if f.count < loginFreeFailures {
		return 0
	}
	wait := loginMaxWait
	if shift := f.count - loginFreeFailures; shift < 9 {
		wait = min(time.Second<<shift, loginMaxWait)
	}
	f.blocked = now.Add(wait)
	return wait
}

// succeeded forgets the client's failures.
func (t *loginThrottle) succeeded(client string) {
	t.mu.Lock()
	delete(t.clients, client)
	t.mu.Unlock()
}

// makeRoom drops forgotten records and, if the table is still full, the
// one idle longest.
func (t *loginThrottle) makeRoom(now time.Time) {
	if len(t.clients) < loginMaxClients {
		return
	}
	var oldest string
	var oldestAt time.Time
	for c, f := range t.clients {
		if now.Sub(f.last) > loginForget {
			delete(t.clients, c)
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = c, f.last
		}
	}
	if len(t.clients) >= loginMaxClients {
		delete(t.clients, oldest)
	}
}
