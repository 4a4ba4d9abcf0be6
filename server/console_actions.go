package server

// Console actions outside the JetStream API: publishing a message and
// closing a client connection.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/wisp-mq/wisp/sublist"
)

// publishCall is the body of POST /console/api/publish.
type publishCall struct {
	Account string      `json:"account"`
	Subject string      `json:"subject"`
	Headers [][2]string `json:"headers,omitempty"` // name, value pairs in order
	Payload string      `json:"payload"`
	// Ack waits for the answer of a stream that takes the subject (its
	// PubAck) and returns it.
	Ack bool `json:"ack"`
}

// headerBlock encodes headers as a NATS header block, refusing names and
// values that would break its lines.
func headerBlock(headers [][2]string) ([]byte, error) {
	if len(headers) == 0 {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString("NATS/1.0\r\n")
	for _, h := range headers {
		name, value := strings.TrimSpace(h[0]), strings.TrimSpace(h[1])
		if name == "" || strings.ContainsAny(name, ": \t\r\n") {
			return nil, fmt.Errorf("header name %q: must be non-empty, without spaces or colons", h[0])
		}
		if strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("header %q: the value must be one line", name)
		}
		b.WriteString(name + ": " + value + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

// handlePublish publishes a message in an account, as a client of it
// would, and with Ack waits for a stream's PubAck.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request, _ *consoleSession, id *consoleIdentity) {
	var call publishCall
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		writeError(w, http.StatusBadRequest, "expected {\"account\", \"subject\", \"headers\", \"payload\", \"ack\"}: "+err.Error())
		return
	}
	acc := accountOrGlobal(call.Account)
	if !sublist.ValidPublishSubject([]byte(call.Subject)) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid subject %q", call.Subject))
		return
	}
	if !s.permitted(w, id, acc, call.Subject, true) {
		return
	}
	hdr, err := headerBlock(call.Headers)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if n := len(hdr) + len(call.Payload); n > s.o().MaxPayload {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("message of %d bytes is over max_payload (%d)", n, s.o().MaxPayload))
		return
	}
	if !call.Ack {
		b, err := s.Account(acc)
		if err == nil {
			err = b.Publish(call.Subject, "", hdr, []byte(call.Payload))
		}
		s.audit(r, id, acc, "publish", "subject", call.Subject, "bytes", len(call.Payload), "err", errText(err))
		if err != nil {
			writeRequestError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"published": true})
		return
	}
	answer, err := s.request(acc, call.Subject, hdr, []byte(call.Payload), jsRequestTimeout)
	s.audit(r, id, acc, "publish", "subject", call.Subject, "bytes", len(call.Payload), "ack", true, "err", errText(err))
	if err != nil {
		writeRequestError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(answer)
}

// kickCall is the body of POST /console/api/kick.
type kickCall struct {
	CID uint64 `json:"cid"`
}

// handleKick closes a client connection of an account the operator acts
// in. The client sees the connection end and, like after any close, may
// reconnect.
func (s *Server) handleKick(w http.ResponseWriter, r *http.Request, _ *consoleSession, id *consoleIdentity) {
	var call kickCall
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil || call.CID == 0 {
		writeError(w, http.StatusBadRequest, "expected {\"cid\": <connection id>}")
		return
	}
	s.mu.Lock()
	c := s.conns[call.CID]
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no connection %d", call.CID))
		return
	}
	snap := c.snapshot(false)
	if !s.permitted(w, id, snap.Account, "", true) {
		return
	}
	s.audit(r, id, snap.Account, "close connection", "cid", snap.CID, "name", snap.Name, "conn_user", snap.User, "conn_addr", fmt.Sprintf("%s:%d", snap.IP, snap.Port))
	c.close(closeKicked, "")
	writeJSON(w, http.StatusOK, map[string]any{"closed": call.CID})
}
