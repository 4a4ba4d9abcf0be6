package server

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// healthz is the /healthz body, and the HEALTHZ $SYS answer's data.
// Over HTTP the status code is the response's and status_code is left
// out, as nats-server does.
type healthz struct {
	Status     string `json:"status"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// healthzQuery holds nats-server's /healthz options:
//   - js-enabled-only: is JetStream on in the configuration (the stream
//     layer is not asked);
//   - js-server-only (and js-meta-only, the same for Wisp, which has no
//     clustered JetStream): the server and its stream layer serve;
//   - account, stream, consumer: that account has a stream layer, and that
//     stream and consumer exist in it.
type healthzQuery struct {
	jsEnabledOnly bool
	jsServerOnly  bool
	account       string
	stream        string
	consumer      string
}

func parseHealthz(v url.Values) (healthzQuery, error) {
	var q healthzQuery
	var err error
	if q.jsEnabledOnly, err = boolParam(v, "js-enabled-only"); err != nil {
		return q, err
	}
	if !q.jsEnabledOnly { // nats-server's older name for it
		if q.jsEnabledOnly, err = boolParam(v, "js-enabled"); err != nil {
			return q, err
		}
	}
	if q.jsServerOnly, err = boolParam(v, "js-server-only"); err != nil {
		return q, err
	}
	meta, err := boolParam(v, "js-meta-only")
	if err != nil {
		return q, err
	}
	q.jsServerOnly = q.jsServerOnly || meta
	if details, err := boolParam(v, "details"); err != nil || details {
		return q, cmp.Or(err, fmt.Errorf("%w: details: the list form of errors is not implemented", errBadQuery))
	}
	q.account, q.stream, q.consumer = v.Get("account"), v.Get("stream"), v.Get("consumer")
	if q.consumer != "" && q.stream == "" {
		return q, fmt.Errorf("%w: consumer needs stream", errBadQuery)
	}
	return q, nil
}

// healthz answers 200 while the server serves, 503 with the reason while
// it starts or shuts down, when the stream layer reports an error, or when
// JetStream is asked for and off, and 404 when a named account, stream or
// consumer is missing.
func (s *Server) healthz(q healthzQuery) healthz {
	unavailable := func(code int, reason string) healthz {
		return healthz{Status: "unavailable", StatusCode: code, Error: reason}
	}
	if reason := s.notServing(); reason != "" {
		return unavailable(http.StatusServiceUnavailable, reason)
	}
	wantJS := q.jsEnabledOnly || q.jsServerOnly || q.account != "" || q.stream != ""
	if wantJS && !s.opts.JetStream {
		return unavailable(http.StatusServiceUnavailable, "JetStream not enabled")
	}
	if q.jsEnabledOnly {
		return healthz{Status: "ok", StatusCode: http.StatusOK}
	}
	if reason := s.streamTrouble(); reason != "" {
		return unavailable(http.StatusServiceUnavailable, reason)
	}
	if q.account != "" || q.stream != "" {
		if code, reason := s.findStreamAsset(q); reason != "" {
			return unavailable(code, reason)
		}
	}
	return healthz{Status: "ok", StatusCode: http.StatusOK}
}

// findStreamAsset checks that the account (the global one when not named)
// has a stream layer, with the stream and consumer asked for.
func (s *Server) findStreamAsset(q healthzQuery) (int, string) {
	acc := q.account
	if acc == "" {
		acc = GlobalAccount
	}
	if a := s.lookupAccount(acc); a == nil || a == s.sysAcc {
		return http.StatusNotFound, fmt.Sprintf("JetStream account %q not found", acc)
	}
	if q.stream == "" {
		return 0, ""
	}
	rep, err := s.jetStreamReport()
	if err != nil {
		return http.StatusServiceUnavailable, "stream layer: " + err.Error()
	}
	rep = rep.forAccount(acc)
	i := slices.IndexFunc(rep.Streams, func(sr StreamReport) bool { return sr.Name == q.stream })
	if i < 0 {
		return http.StatusNotFound, fmt.Sprintf("JetStream stream %q not found on account %q", q.stream, acc)
	}
	if q.consumer != "" && !slices.ContainsFunc(rep.Streams[i].Consumers, func(cr ConsumerReport) bool { return cr.Name == q.consumer }) {
		return http.StatusNotFound, fmt.Sprintf("JetStream consumer %q not found for stream %q on account %q", q.consumer, q.stream, acc)
	}
	return 0, ""
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	q, err := parseHealthz(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	h := s.healthz(q)
	code := h.StatusCode
	h.StatusCode = 0
	writeJSON(w, code, h)
}

// unhealthy returns why the server is not fit to serve, or "".
func (s *Server) unhealthy() string {
	return cmp.Or(s.notServing(), s.streamTrouble())
}

// notServing says why the server is not taking clients, or "".
func (s *Server) notServing() string {
	s.mu.Lock()
	closed, started := s.closed, s.ln != nil
	s.mu.Unlock()
	switch {
	case closed:
		return "server is shutting down"
	case !started:
		return "server is starting"
	}
	return ""
}

// streamTrouble says what the stream layer reports wrong, or "".
func (s *Server) streamTrouble() string {
	rep, err := s.jetStreamReport()
	if err != nil && !errors.Is(err, errNoStreamLayer) {
		return "stream layer: " + err.Error()
	}
	if msg := rep.storeTrouble(); msg != "" {
		return "stream layer: " + msg
	}
	return ""
}
