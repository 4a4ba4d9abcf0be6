package server

// The console's management endpoints. None of them reaches into the stream
// layer: they send the JetStream API requests a client would send
// ($JS.API.*) into the chosen account and relay the answers, so the console
// can do nothing that the client API does not do, in exactly the same way.
// Publishing goes through the same in-process publish as the stream layer's
// own messages; closing a connection through the same close as any other.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nuid"
)

// jsRequestTimeout bounds one API request the console makes.
const jsRequestTimeout = 5 * time.Second

// errNoResponders is a request nobody subscribes to: the account has no
// stream layer (or, for a publish with an ack, no stream takes the subject).
var errNoResponders = errors.New("no responders")

// viewerAPIs are the JetStream API requests that only read, which a viewer
// may make. Anything else changes state and needs an operator.
var viewerAPIs = []string{"INFO", "STREAM.NAMES", "STREAM.LIST", "STREAM.INFO.", "STREAM.MSG.GET.",
	"CONSUMER.NAMES.", "CONSUMER.LIST.", "CONSUMER.INFO."}

func readOnlyAPI(api string) bool {
	for _, p := range viewerAPIs {
		if api == p || strings.HasSuffix(p, ".") && strings.HasPrefix(api, p) {
			return true
		}
	}
	return false
}

// request sends body to subject in account with a fresh reply subject and
// waits for the first answer, as a client's request does.
func (s *Server) request(account, subject string, hdr, body []byte, timeout time.Duration) ([]byte, error) {
	b, err := s.Account(account)
	if err != nil {
		return nil, err
	}
	if r := b.acc.sl.Match([]byte(subject)); len(r.Plain) == 0 && len(r.Groups) == 0 {
		return nil, errNoResponders
	}
	inbox := "_INBOX.console." + nuid.Next()
	answer := make(chan []byte, 1)
	// Routed: in a cluster, the answer about a replicated stream comes
	// from its leader, which may be another server. The interest goes out
	// on the routes before the request does, so it is there first.
	cancel, err := b.SubscribeRouted(inbox, func(_, _, _, data []byte) {
		select {
		case answer <- append([]byte(nil), data...):
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer cancel()
	if err := b.Publish(subject, inbox, hdr, body); err != nil {
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case a := <-answer:
		return a, nil
	case <-t.C:
		return nil, fmt.Errorf("no answer from %s within %v", subject, timeout)
	}
}

// jsCall is the body of POST /console/api/js.
type jsCall struct {
	Account string          `json:"account"`
	API     string          `json:"api"` // the subject after $JS.API., e.g. "STREAM.INFO.ORDERS"
	Body    json.RawMessage `json:"body,omitempty"`
}

// handleJSRequest relays one JetStream API request. Viewers may make the
// read-only ones; the rest need an operator of the account and are logged.
func (s *Server) handleJSRequest(w http.ResponseWriter, r *http.Request, _ *consoleSession, id *consoleIdentity) {
	var call jsCall
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		writeError(w, http.StatusBadRequest, "expected {\"account\", \"api\", \"body\"}: "+err.Error())
		return
	}
	acc := accountOrGlobal(call.Account)
	if call.API == "" || strings.ContainsAny(call.API, " \t\r\n*>") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad API name %q", call.API))
		return
	}
	subject := "$JS.API." + call.API
	if !s.permitted(w, id, acc, subject, !readOnlyAPI(call.API)) {
		return
	}
	body := []byte(call.Body)
	if len(body) == 0 || string(body) == "null" {
		body = nil
	}
	answer, err := s.request(acc, subject, nil, body, jsRequestTimeout)
	if !readOnlyAPI(call.API) {
		s.audit(r, id, acc, "jetstream api", "subject", subject, "body", string(body), "err", errText(err))
	}
	if err != nil {
		writeRequestError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(answer)
}

// permitted checks that id may see (or, if acting, act in) account, and
// that an acting user's own NATS permissions allow publishing subject in
// their own account; it answers 403 itself when not.
func (s *Server) permitted(w http.ResponseWriter, id *consoleIdentity, account, subject string, acting bool) bool {
	if !id.maySee(account) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("user %q may not see account %q", id.User, account))
		return false
	}
	if !acting {
		return true
	}
	if !id.mayAct(account) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("user %q may only look (role %s): ask for the operator role in [http.console]", id.User, id.Role))
		return false
	}
	if u := s.auth.Load().users[id.User]; u != nil && u.perms != nil && u.acc.name == account && subject != "" {
		if u.perms.publishVerdict([]byte(subject)) != pubAllowed {
			writeError(w, http.StatusForbidden, fmt.Sprintf("user %q may not publish to %q", id.User, subject))
			return false
		}
	}
	return true
}

// audit records an action in the server log with who did it.
func (s *Server) audit(r *http.Request, id *consoleIdentity, account, action string, args ...any) {
	user := id.User
	if user == "" {
		user = "(open console)"
	}
	s.log.Info("console: "+action, append([]any{"user", user, "account", account, "client", clientHost(r)}, args...)...)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeRequestError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoResponders):
		writeError(w, http.StatusServiceUnavailable, "no responders: JetStream is not enabled in this account")
	case errors.Is(err, ErrNoAccount):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		writeError(w, http.StatusGatewayTimeout, err.Error())
	}
}

// accountOrGlobal names the global account for "".
func accountOrGlobal(name string) string {
	if name == "" {
		return GlobalAccount
	}
	return name
}
