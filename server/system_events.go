package server

import (
	"time"

	"github.com/nats-io/nuid"
)

// Events the server publishes in the system account, in nats-server's
// subjects and shapes. They fire on connect, close, shutdown, lame duck and
// a timer, never per message, and cost only a sublist lookup when nobody
// in the system account listens (sysSend).
//
//	$SYS.ACCOUNT.<acc>.CONNECT      a client authenticated into acc
//	$SYS.ACCOUNT.<acc>.DISCONNECT   it closed, with its counts and reason
//	$SYS.SERVER.<id>.STATSZ         the server's figures, every statszInterval
//	$SYS.SERVER.<id>.SHUTDOWN       the server is shutting down
//	$SYS.SERVER.<id>.LAMEDUCK       the server entered lame-duck mode

// statszInterval is how often STATSZ is published.
const statszInterval = 10 * time.Second

// Advisory types, as nats-server's.
const (
	typeConnect    = "io.nats.server.advisory.v1.client_connect"
	typeDisconnect = "io.nats.server.advisory.v1.client_disconnect"
)

// ClientInfo describes a client in connect and disconnect events.
type ClientInfo struct {
	Start      time.Time  `json:"start,omitzero"`
	Host       string     `json:"host,omitempty"`
	ID         uint64     `json:"id,omitempty"`
	Account    string     `json:"acc,omitempty"`
	User       string     `json:"user,omitempty"`
	Name       string     `json:"name,omitempty"`
	Lang       string     `json:"lang,omitempty"`
	Version    string     `json:"ver,omitempty"`
	Server     string     `json:"server,omitempty"`
	Cluster    string     `json:"cluster,omitempty"`
	Stop       *time.Time `json:"stop,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	ClientType string     `json:"client_type,omitempty"`
}

// ConnectEventMsg is the CONNECT event.
type ConnectEventMsg struct {
	Type   string     `json:"type"`
	ID     string     `json:"id"`
	Time   time.Time  `json:"timestamp"`
	Server ServerInfo `json:"server"`
	Client ClientInfo `json:"client"`
}

// DisconnectEventMsg is the DISCONNECT event.
type DisconnectEventMsg struct {
	Type     string     `json:"type"`
	ID       string     `json:"id"`
	Time     time.Time  `json:"timestamp"`
	Server   ServerInfo `json:"server"`
	Client   ClientInfo `json:"client"`
	Sent     DataStats  `json:"sent"`
	Received DataStats  `json:"received"`
	Reason   string     `json:"reason"`
}

func (s *Server) clientInfo(cs *ConnSnapshot) ClientInfo {
	return ClientInfo{
		Start: cs.Start.UTC(), Host: cs.IP, ID: cs.CID, Account: cs.Account, User: cs.User,
		Name: cs.Name, Lang: cs.Lang, Version: cs.Version, Server: s.name,
		Cluster: s.o().Cluster.Name, Kind: "Client", ClientType: "nats",
	}
}

// sendConnectEvent announces a client that has just completed CONNECT.
func (c *conn) sendConnectEvent() {
	s := c.srv
	if s.sysp.Load() == nil || c.peer != nil {
		return
	}
	c.infoMu.Lock()
	acc := c.acc
	c.infoMu.Unlock()
	subject := "$SYS.ACCOUNT." + acc.name + ".CONNECT"
	if !hasInterest(s.sysAcc.sl, subject) {
		return
	}
	cs := c.snapshot(false)
	s.sysSend(subject, "", ConnectEventMsg{
		Type: typeConnect, ID: nuid.Next(), Time: time.Now().UTC(),
		Server: s.serverInfo(), Client: s.clientInfo(&cs),
	})
}

// sendDisconnectEvent announces the close of a client that had connected.
func (c *conn) sendDisconnectEvent() {
	s := c.srv
	if s.sysp.Load() == nil || c.peer != nil {
		return
	}
	c.infoMu.Lock()
	acc, connected := c.acc, c.connected
	c.infoMu.Unlock()
	if !connected {
		return
	}
	c.sendClosedEvent("$SYS.ACCOUNT."+acc.name+".DISCONNECT", "", closeReason(c.reason.Load()).String())
}

// sendClosedEvent sends a client_disconnect event about c on subject,
// when someone listens: its client block and counts, user naming who
// tried when the client never got one (an auth failure), and reason.
func (c *conn) sendClosedEvent(subject, user, reason string) {
	s := c.srv
	if !hasInterest(s.sysAcc.sl, subject) {
		return
	}
	cs := c.snapshot(false)
	now := time.Now().UTC()
	ci := s.clientInfo(&cs)
	ci.Stop = &now
	if ci.User == "" {
		ci.User = user
	}
	s.sysSend(subject, "", DisconnectEventMsg{
		Type: typeDisconnect, ID: nuid.Next(), Time: now,
		Server: s.serverInfo(), Client: ci,
		Sent:     DataStats{Msgs: cs.OutMsgs, Bytes: cs.OutBytes},
		Received: DataStats{Msgs: cs.InMsgs, Bytes: cs.InBytes},
		Reason:   reason,
	})
}

// statszLoop publishes STATSZ at once and then every statszInterval.
func (s *Server) statszLoop(p *sysPlane) {
	defer p.done.Done()
	t := time.NewTicker(statszInterval)
	defer t.Stop()
	for {
		s.sendStatsz()
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Server) sendStatsz() {
	subject := "$SYS.SERVER." + s.id + ".STATSZ"
	if hasInterest(s.sysAcc.sl, subject) {
		s.sysSend(subject, "", s.statszMsg())
	}
}

// sendShutdownEvent and sendLameDuckEvent carry the server's identity.
func (s *Server) sendShutdownEvent() {
	s.sysSend("$SYS.SERVER."+s.id+".SHUTDOWN", "", s.serverInfo())
}

func (s *Server) sendLameDuckEvent() {
	s.sysSend("$SYS.SERVER."+s.id+".LAMEDUCK", "", s.serverInfo())
}
