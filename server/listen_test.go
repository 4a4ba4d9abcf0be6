package server

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
)

// A port another process holds fails Start with a ListenError that names
// the listener and wraps ErrPortInUse, for each of the three listeners.
func TestStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	for listener, set := range map[string]func(o *Options){
		ListenerClient:     func(o *Options) { o.Port = port },
		ListenerMonitoring: func(o *Options) { o.HTTPPort = port },
		ListenerProfiling:  func(o *Options) { o.ProfPort = port },
		ListenerCluster: func(o *Options) {
			o.HTTPPort = -1 // a failed route port also closes the others
			o.Cluster = ClusterOptions{Name: "c", Host: "127.0.0.1", Port: port}
		},
	} {
		o := &Options{Host: "127.0.0.1", Port: -1, HTTPHost: "127.0.0.1"}
		set(o)
		s, err := New(o, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Start()
		var le *ListenError
		if !errors.Is(err, ErrPortInUse) || !errors.As(err, &le) || le.Listener != listener {
			t.Errorf("%s: Start error %v", listener, err)
			continue
		}
		if want := "server: " + listener + " port " + strconv.Itoa(port) + " is already in use"; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q, want it to start %q", listener, err, want)
		}
		if s.Addr() != nil || s.MonitorAddr() != nil {
			t.Errorf("%s: a failed Start left listeners open", listener)
		}
	}
}
