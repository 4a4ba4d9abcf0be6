package server

import (
	"encoding/binary"

	"github.com/wisp-mq/wisp/sublist"
)

// A stored message a consumer hands out is matched on one subject (the
// pull request's inbox, the push consumer's deliver subject) and shown
// under another (the subject it was published on). A route message
// carries only one subject, which the receiving server would both match
// and show, so a delivery to a subscriber on another server (a
// replicated stream's leader serving a client connected elsewhere) goes
// as a cluster-internal message on chanDeliver instead, and the server
// holding the subscriber delivers it locally. Like a route message it
// may be dropped when the route is busy; a consumer redelivers what is
// not acknowledged.
const chanDeliver = "jsdeliver"

// deliverRemote sends a delivery to every other server with a plain
// subscriber on deliver in r (queue groups are served locally only).
func (s *Server) deliverRemote(acc *account, r *sublist.Result[*subscription], deliver, subject, reply string, hdr, data []byte) {
	var sent []*route
	for _, sub := range r.Plain {
		p := sub.peer
		if p == nil || !p.registered.Load() || sub.closed.Load() {
			continue
		}
		dup := false
		for _, q := range sent {
			dup = dup || q == p
		}
		if dup {
			continue
		}
		sent = append(sent, p)
		s.cl.mu.Lock()
		name := p.remote.ServerName
		s.cl.mu.Unlock()
		payload := appendDelivery(nil, acc.name, deliver, subject, reply, hdr, data)
		if err := s.ClusterSend(name, chanDeliver, payload); err != nil {
			s.log.Debug("remote delivery dropped", "server", name, "deliver", deliver, "err", err)
		}
	}
}

// appendDelivery encodes a delivery: five length-prefixed strings
// (account, deliver, subject, reply, header) and the data.
func appendDelivery(b []byte, account, deliver, subject, reply string, hdr, data []byte) []byte {
	for _, f := range []string{account, deliver, subject, reply} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, data...)
}

// decodeDelivery is appendDelivery's inverse; ok is false for malformed
// bytes.
func decodeDelivery(b []byte) (fields [5][]byte, data []byte, ok bool) {
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fields, nil, false
		}
		fields[i] = b[k : k+int(n)]
		b = b[k+int(n):]
	}
	return fields, b, true
}

// onRemoteDelivery delivers, to this server's own subscribers, a
// delivery another server sent (deliverRemote).
func (s *Server) onRemoteDelivery(from string, payload []byte) {
	f, data, ok := decodeDelivery(payload)
	if !ok {
		s.log.Warn("dropped a malformed remote delivery", "from", from)
		return
	}
	acc := s.global
	if name := string(f[0]); name != "" && name != GlobalAccount {
		if acc = s.lookupAccount(name); acc == nil {
			return
		}
	}
	d := f[1]
	if !sublist.ValidPublishSubject(d) || len(f[2]) == 0 {
		return
	}
	var hdr []byte
	if len(f[4]) > 0 {
		hdr = f[4]
	}
	m := internalMessage(f[2], string(f[3]), hdr, data)
	m.local = true
	s.fanOut(nil, acc.sl.Match(d), &m)
}
