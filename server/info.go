package server

import (
	"encoding/json"
	"net"

	"github.com/wisp-mq/wisp/protocol"
)

// serverInfo is the INFO body, with nats-server's field names since every
// client library reads them.
type serverInfo struct {
	ServerID     string `json:"server_id"`
	ServerName   string `json:"server_name"`
	Version      string `json:"version"`      // NATSVersion: what clients compare
	WispVersion  string `json:"wisp_version"` // Wisp's own
	GitCommit    string `json:"git_commit,omitempty"`
	Proto        int    `json:"proto"`
	Go           string `json:"go"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	Headers      bool   `json:"headers"`
	MaxPayload   int    `json:"max_payload"`
	ClientID     uint64 `json:"client_id"`
	ClientIP     string `json:"client_ip,omitempty"`
	AuthRequired bool   `json:"auth_required,omitempty"`
	TLSRequired  bool   `json:"tls_required,omitempty"`
	TLSAvailable bool   `json:"tls_available,omitempty"` // WebSocket over TLS only
	TLSVerify    bool   `json:"tls_verify,omitempty"`
	JetStream    bool   `json:"jetstream,omitempty"`
	APILevel     int    `json:"api_lvl,omitempty"` // with JetStream only
	LameDuckMode bool   `json:"ldm,omitempty"`
	// Cluster and ConnectURLs (the client URLs of every server of the
	// cluster) let client libraries fail over; see cluster_info.go.
	Cluster     string   `json:"cluster,omitempty"`
	ConnectURLs []string `json:"connect_urls,omitempty"`
	// Set only in the INFO that follows CONNECT (sendConnectInfo).
	ConnectInfo     bool   `json:"connect_info,omitempty"`
	RemoteAccount   string `json:"remote_account,omitempty"`
	IsSystemAccount bool   `json:"acc_is_sys,omitempty"`
}

func (s *Server) info(c *conn) serverInfo {
	port := s.opts.Port
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		port = a.Port // the real one when Port was -1
	}
	si := serverInfo{
		ServerID:     s.id,
		ServerName:   s.name,
		Version:      NATSVersion,
		WispVersion:  Version,
		GitCommit:    GitCommit,
		Proto:        1,
		Go:           goVersion,
		Host:         s.opts.Host,
		Port:         port,
		Headers:      true,
		MaxPayload:   s.o().MaxPayload,
		ClientID:     c.id,
		ClientIP:     c.host,
		AuthRequired: s.auth.Load().required(),
		JetStream:    s.opts.JetStream,
	}
	if si.JetStream {
		si.APILevel = JetStreamAPILevel
	}
	si.LameDuckMode = s.InLameDuckMode()
	s.clusterInfo(&si)
	if ts := s.tls.Load(); ts != nil {
		si.TLSRequired = true
		si.TLSVerify = ts.opts.verifyClients()
	}
	if c.ws != nil {
		s.wsInfo(&si)
	}
	return si
}

// infoLine encodes the INFO line for this connection.
func (c *conn) infoLine() []byte {
	body, err := json.Marshal(c.srv.info(c))
	if err != nil { // cannot happen for this struct; keep the connection usable
		body = []byte("{}")
	}
	return protocol.AppendInfo(make([]byte, 0, len(body)+16), body)
}

// sendConnectInfo queues, after the first PONG that follows a successful
// CONNECT from a client that speaks protocol 1 (takes INFO at any time), a
// second INFO saying which account it is in and whether that is the
// system account, as nats-server does; nats.go's IsSystemAccount
// (natscli's "account info") reads it. Reader goroutine only.
func (c *conn) sendConnectInfo() {
	acc := c.acc
	si := c.srv.info(c)
	si.ConnectInfo, si.RemoteAccount, si.IsSystemAccount = true, acc.name, acc == c.srv.sysAcc
	body, err := json.Marshal(si)
	if err != nil {
		return
	}
	c.out.enqueue(protocol.AppendInfo(make([]byte, 0, len(body)+16), body))
	c.out.kickWriter()
}

// sendInfo queues the INFO line that opens every connection.
func (c *conn) sendInfo() {
	c.out.enqueue(c.infoLine())
	c.out.kickWriter()
}
