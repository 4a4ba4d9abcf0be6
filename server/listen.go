package server

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// The listeners a ListenError names.
const (
	ListenerClient     = "client"
	ListenerMonitoring = "monitoring"
	ListenerProfiling  = "profiling"
	ListenerCluster    = "route"
)

// ErrPortInUse is wrapped by the ListenError of a port another process
// already holds: the usual reason a second server does not start.
var ErrPortInUse = errors.New("port already in use")

// ListenError is Start's error when one of its listeners cannot open: which
// one and on which address, so that the caller can say which setting picks
// another port (cmd/wisp names the flag and the config key).
type ListenError struct {
	Listener string // ListenerClient, ListenerMonitoring, ListenerProfiling or ListenerCluster
	Addr     string // the host:port asked for
	Err      error
}

func (e *ListenError) Error() string {
	if errors.Is(e.Err, ErrPortInUse) {
		_, port, _ := net.SplitHostPort(e.Addr)
		return fmt.Sprintf("server: %s port %s is already in use (asked for %s)", e.Listener, port, e.Addr)
	}
	return fmt.Sprintf("server: %s listen on %s: %v", e.Listener, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// listen opens a TCP listener for one of the server's listeners, with an
// error that says which one failed.
func listen(listener, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		err = fmt.Errorf("%w: %w", ErrPortInUse, err)
	}
	return nil, &ListenError{Listener: listener, Addr: addr, Err: err}
}
