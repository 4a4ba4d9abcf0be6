package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wisp-mq/wisp/protocol"
)

// The system account's control requests, answered by the one server they
// name, with nats-server's subjects and bodies:
//
//	$SYS.REQ.SERVER.<id>.KICK     {"cid": n}: close client n
//	$SYS.REQ.SERVER.<id>.LDM      {"cid": n}: tell client n the server is going away (INFO with "ldm": true)
//	$SYS.REQ.SERVER.<id>.RELOAD   reread the configuration file and put it in force
//
// Each answers the usual envelope: the server's identity and "data":
// null, or an error with a code. Unlike nats-server, which stays silent
// on a KICK or LDM body that does not decode, Wisp answers it with a 400.

// sysControls lists the control requests by the last token of their subject.
func (s *Server) sysControls() map[string]sysHandler {
	return map[string]sysHandler{
		"KICK":   s.serveClientRequest(s.kickClient),
		"LDM":    s.serveClientRequest(s.lameDuckClient),
		"RELOAD": s.serveReload,
	}
}

// clientRequest is the body of KICK and LDM.
type clientRequest struct {
	CID uint64 `json:"cid"`
}

// The errors for an unknown client id, in nats-server's words.
var (
	errNoSuchClient     = errors.New("no such client id")
	errNoSuchClientKick = errors.New("no such client or leafnode id")
)

var (
	errNoReloader = errors.New("reload is not available: this server was not started from a configuration")
)

// serveClientRequest answers a request about one client with what act
// does to it.
func (s *Server) serveClientRequest(act func(cid uint64) error) sysHandler {
	return func(_ *conn, _, reply, data []byte) {
		if len(reply) == 0 {
			return
		}
		r := string(reply)
		var req clientRequest
		if err := json.Unmarshal(data, &req); err != nil || req.CID == 0 {
			if err == nil {
				err = errors.New(`a client id ("cid") is required`)
			}
			s.sysAnswer(r, nil, fmt.Errorf("%w: %v", errBadQuery, err))
			return
		}
		s.sysGo(func() { s.sysAnswer(r, nil, act(req.CID)) })
	}
}

// clientConn returns client connection cid.
func (s *Server) clientConn(cid uint64) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[cid]
	if c == nil || c.peer != nil {
		return nil
	}
	return c
}

// kickClient closes client cid, as if it had gone away; it may
// reconnect.
func (s *Server) kickClient(cid uint64) error {
	c := s.clientConn(cid)
	if c == nil {
		return errNoSuchClientKick
	}
	s.log.Info("client kicked by a system request", "cid", cid)
	c.close(closeKicked, "")
	return nil
}

// lameDuckClient sends client cid an INFO saying the server is in
// lame-duck mode, so that it reconnects elsewhere; the server goes on
// serving it meanwhile.
func (s *Server) lameDuckClient(cid uint64) error {
	c := s.clientConn(cid)
	if c == nil {
		return errNoSuchClient
	}
	c.infoMu.Lock()
	ready := c.connected && c.opts.Protocol >= 1
	c.infoMu.Unlock()
	if !ready {
		return errors.New("client does not support Lame Duck Mode or is not ready to receive the notification")
	}
	si := s.info(c)
	si.LameDuckMode = true
	body, err := json.Marshal(si)
	if err != nil {
		return err
	}
	c.out.enqueue(protocol.AppendInfo(make([]byte, 0, len(body)+16), body))
	c.out.kickWriter()
	return nil
}

// SetReloader gives the server the function that rereads its
// configuration and puts it in force (cmd/wisp's, also run on SIGHUP),
// for $SYS.REQ.SERVER.<id>.RELOAD. Without one, the request is refused.
func (s *Server) SetReloader(fn func() error) { s.reloader.Store(&fn) }

func (s *Server) serveReload(_ *conn, _, reply, _ []byte) {
	if len(reply) == 0 {
		return
	}
	r := string(reply)
	s.sysGo(func() {
		fn := s.reloader.Load()
		if fn == nil || *fn == nil {
			s.sysAnswer(r, nil, errNoReloader)
			return
		}
		err := (*fn)()
		if err != nil {
			// A multi-line reason (one line per refused setting) reads
			// better on one line in a JSON description.
			err = errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		s.sysAnswer(r, nil, err)
	})
}
