package stream

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// apiPrefix is where the JetStream API lives; requests are core
// request/reply messages on subjects below it.
const apiPrefix = "$JS.API."

// The response type names nats.go/jetstream and the nats CLI recognise.
const (
	typePrefix            = "io.nats.jetstream.api.v1."
	typeAccountInfo       = typePrefix + "account_info_response"
	typeStreamCreate      = typePrefix + "stream_create_response"
	typeStreamUpdate      = typePrefix + "stream_update_response"
	typeStreamInfo        = typePrefix + "stream_info_response"
	typeStreamDelete      = typePrefix + "stream_delete_response"
	typeStreamPurge       = typePrefix + "stream_purge_response"
	typeStreamNames       = typePrefix + "stream_names_response"
	typeStreamList        = typePrefix + "stream_list_response"
	typeStreamMsgGet      = typePrefix + "stream_msg_get_response"
	typeStreamMsgDelete   = typePrefix + "stream_msg_delete_response"
	typeUnknownAPIRequest = typePrefix + "error_response"
	typeStreamStepDown    = typePrefix + "stream_leader_stepdown_response"
	typeConsumerStepDown  = typePrefix + "consumer_leader_stepdown_response"
	typeStreamRemovePeer  = typePrefix + "stream_remove_peer_response"
)

// apiResponse is the part every API reply shares.
type apiResponse struct {
	Type  string    `json:"type"`
	Error *APIError `json:"error,omitempty"`
}

// apiPaged is the paging block of list-like replies.
type apiPaged struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// errResponse is the reply for any failed request.
func errResponse(typ string, e *APIError) *apiResponse {
	return &apiResponse{Type: typ, Error: e}
}

// clientSubscriber is the optional Broker method for a subscription whose
// handler learns who published: client returns the JSON of nats-server's
// client info block for the publishing connection (nil for an in-process
// publish), and may be called only during the callback. The server's
// brokers have it; the layer uses it for the API, to fill the client
// block of the advisories.
type clientSubscriber interface {
	SubscribeClient(subject string, fn func(client func() []byte, subject, reply, hdr, data []byte)) (cancel func(), err error)
}

// subscribeAPI subscribes to $JS.API.>, through SubscribeClient when the
// broker has it.
func (svc *Service) subscribeAPI(b Broker) (func(), error) {
	if cs, ok := b.(clientSubscriber); ok {
		return cs.SubscribeClient(apiPrefix+">", svc.onAPIFrom)
	}
	return b.Subscribe(apiPrefix+">", "", func(subject, reply, hdr, data []byte) {
		svc.onAPIFrom(nil, subject, reply, hdr, data)
	})
}

// onAPIFrom is the broker callback for $JS.API.>. It copies the request
// (and, when an advisory will name the requester, who sent it) and
// answers it on its own goroutine: a request may wait for a disk commit,
// and the callback must not hold the requester's connection that long.
func (svc *Service) onAPIFrom(client func() []byte, subject, reply, hdr, data []byte) {
	svc.serveAPI(client, subject, reply, hdr, data, 0)
}

// serveAPI takes one request, from a client of this server or sent on
// by another server (hops: how often it was sent on, cluster_api.go).
func (svc *Service) serveAPI(client func() []byte, subject, reply, hdr, data []byte, hops int) {
	if len(reply) == 0 {
		return // nobody to answer; nats-server ignores these too
	}
	if len(hdr) > 0 && svc.refuseForLevel(string(subject), string(reply), hdr) {
		return
	}
	if cl := svc.clusterOf(); cl != nil && (svc.routeCluster(cl, string(subject), reply, data, hops) ||
		svc.pullElsewhere(cl, subject, reply, data, hops)) {
		return // sent on to the server that answers it
	}
	if svc.pullRequest(subject, reply, data) {
		return // queued on its consumer (pull.go), answered from there
	}
	svc.mu.RLock()
	if svc.closing.Load() {
		svc.mu.RUnlock()
		return
	}
	svc.inflight.Add(1)
	svc.mu.RUnlock()
	subj, rep, body := string(subject), string(reply), bytes.Clone(data)
	var ci json.RawMessage
	if client != nil && svc.namesRequester(subj) {
		ci = client()
	}
	go func() {
		defer svc.inflight.Done()
		svc.handleAPI(subj, rep, body, ci, hops)
	}()
}

// namesRequester reports whether an advisory about this request will name
// who sent it: the API audit (while someone listens) and the snapshot and
// restore advisories.
func (svc *Service) namesRequester(subject string) bool {
	rest := strings.TrimPrefix(subject, apiPrefix)
	return strings.HasPrefix(rest, "STREAM.SNAPSHOT.") || strings.HasPrefix(rest, "STREAM.RESTORE.") ||
		svc.hasInterest(advisoryAPI)
}

// handleAPI routes one request and sends its reply. Every request that
// reaches it gets exactly one reply.
func (svc *Service) handleAPI(subject, reply string, body []byte, client json.RawMessage, hops int) {
	svc.apiTotal.Add(1)
	rest := strings.TrimPrefix(subject, apiPrefix)
	if d, ok := strings.CutPrefix(rest, "DIRECT.GET."); ok {
		if hops == 0 && svc.directElsewhere(subject, d, reply, body) {
			return // sent on to a server holding the stream
		}
		svc.directGet(d, reply, body)
		return
	}
	var resp any
	if cl := svc.clusterOf(); cl != nil {
		var handled bool
		if resp, handled = svc.handleCluster(cl, rest, []byte(reply), body, hops); handled && resp == nil {
			return // sent on: the server it went to replies
		}
	}
	if resp == nil {
		resp = svc.routeTransfer(rest, body, client)
	}
	if resp == nil {
		resp = svc.route(rest, body)
	}
	if svc.retryNotLeader(subject, rest, reply, body, resp, hops) {
		return // sent on to the stream's new leader, which replies
	}
	if svc.createLostToTwin(subject, rest, reply, body, resp, hops) {
		return // sent on to the server that made the same stream, which replies
	}
	if r, ok := resp.(interface{ apiError() *APIError }); ok && r.apiError() != nil {
		svc.apiErrors.Add(1)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		svc.log.Error("encode API reply", "subject", subject, "err", err)
		out, _ = json.Marshal(errResponse(typeUnknownAPIRequest, apiErr(errGeneral, err)))
	}
	// The audit record goes out before the reply: a client sends its next
	// call only once it has this reply, so the records of one client's
	// calls come in the order it made them (nats-server's single send
	// queue gives it the same order).
	svc.auditAPI(subject, body, out, client)
	if err := svc.broker.Publish(reply, "", nil, out); err != nil {
		svc.log.Debug("send API reply", "subject", subject, "err", err)
	}
}

func (r *apiResponse) apiError() *APIError { return r.Error }

// route picks the handler for an API subject (without the prefix).
func (svc *Service) route(rest string, body []byte) any {
	if rest == "INFO" {
		return svc.accountInfo()
	}
	if r := svc.offlineRefusal(rest); r != nil {
		return r
	}
	op, name, ok := splitAPI(rest)
	switch {
	case op == "STREAM.NAMES" && !ok:
		return svc.streamNames(body)
	case op == "STREAM.LIST" && !ok:
		return svc.streamList(body)
	case !ok:
	case op == "STREAM.CREATE":
		return svc.createStream(name, body)
	case op == "STREAM.LEADER.STEPDOWN":
		return errResponse(typeStreamStepDown, apiErr(errClusterRequired))
	case op == "STREAM.PEER.REMOVE":
		return errResponse(typeStreamRemovePeer, apiErr(errClusterRequired))
	case op == "STREAM.UPDATE":
		return svc.updateStream(name, body)
	case op == "STREAM.INFO":
		return svc.streamInfo(name, body)
	case op == "STREAM.DELETE":
		return svc.deleteStream(name)
	case op == "STREAM.PURGE":
		return svc.purgeStream(name, body)
	case op == "STREAM.MSG.GET":
		return svc.msgGet(name, body)
	case op == "STREAM.MSG.DELETE":
		return svc.msgDelete(name, body)
	}
	if strings.HasPrefix(rest, "CONSUMER.") {
		return svc.routeConsumer(rest, body)
	}
	return errResponse(typeUnknownAPIRequest, apiErr(errBadRequest))
}

// splitAPI splits "STREAM.INFO.NAME" into ("STREAM.INFO", "NAME", true).
// The operations with a stream name have two or three words before it.
func splitAPI(rest string) (op, name string, ok bool) {
	for _, p := range []string{"STREAM.MSG.GET.", "STREAM.MSG.DELETE.", "STREAM.LEADER.STEPDOWN.", "STREAM.CREATE.", "STREAM.UPDATE.",
		"STREAM.INFO.", "STREAM.DELETE.", "STREAM.PURGE.", "STREAM.PEER.REMOVE."} {
		if n, found := strings.CutPrefix(rest, p); found {
			if n == "" || strings.Contains(n, ".") {
				return rest, "", false
			}
			return p[:len(p)-1], n, true
		}
	}
	return rest, "", false
}

// decodeRequest parses an optional JSON request body. An empty body is an
// empty request; anything else must be one JSON object.
func decodeRequest(body []byte, v any) *APIError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr(errInvalidJSON, err)
	}
	return nil
}

// decodeConfigRequest parses a stream or consumer create/update request
// and, as nats-server does, refuses a field it does not know (10025): a
// setting Wisp would drop must fail the request, not create a stream or
// consumer that behaves differently from what was asked.
func decodeConfigRequest(body []byte, v any) *APIError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(errInvalidJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(errInvalidJSON, "unexpected data after the request object")
	}
	return nil
}
