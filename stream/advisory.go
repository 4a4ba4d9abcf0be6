package stream

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nuid"
)

// JetStream advisories for operators: which streams and consumers came
// and went, and an audit record of every JetStream API call. Subjects,
// type names and JSON fields are nats-server's, so `nats event
// --js-advisory` and jsm.go's schema types read them. They are sent only
// while some subscription in the account matches the subject (one
// subject-index lookup on an API call), and never for an ordinary publish
// or ack.
const (
	advisoryStreamPrefix   = "$JS.EVENT.ADVISORY.STREAM."
	advisoryConsumerPrefix = "$JS.EVENT.ADVISORY.CONSUMER."
	advisoryAPI            = "$JS.EVENT.ADVISORY.API"

	typeStreamAction   = "io.nats.jetstream.advisory.v1.stream_action"
	typeConsumerAction = "io.nats.jetstream.advisory.v1.consumer_action"
	typeAPIAudit       = "io.nats.jetstream.advisory.v1.api_audit"
)

// advisoryAction is the action field of the stream and consumer advisories,
// with the subject word nats-server uses for it.
type advisoryAction struct {
	word, name string
}

var (
	actionCreate = advisoryAction{"CREATED", "create"}
	actionModify = advisoryAction{"UPDATED", "modify"}
	actionDelete = advisoryAction{"DELETED", "delete"}
)

// streamActionAdvisory is io.nats.jetstream.advisory.v1.stream_action.
type streamActionAdvisory struct {
	Type   string    `json:"type"`
	ID     string    `json:"id"`
	Time   time.Time `json:"timestamp"`
	Stream string    `json:"stream"`
	Action string    `json:"action"`
}

// consumerActionAdvisory is io.nats.jetstream.advisory.v1.consumer_action.
type consumerActionAdvisory struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Time     time.Time `json:"timestamp"`
	Stream   string    `json:"stream"`
	Consumer string    `json:"consumer"`
	Action   string    `json:"action"`
}

// apiAuditAdvisory is io.nats.jetstream.advisory.v1.api_audit.
type apiAuditAdvisory struct {
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	Time     time.Time       `json:"timestamp"`
	Server   string          `json:"server"`
	Client   json.RawMessage `json:"client"`
	Subject  string          `json:"subject"`
	Request  string          `json:"request,omitempty"`
	Response string          `json:"response"`
}

// accountOnlyClient is the client block when the broker cannot say who
// sent a request (an in-process publish, or a broker without
// SubscribeClient): only the account, as nats-server leaves empty fields
// out.
type accountOnlyClient struct {
	Account string `json:"acc,omitempty"`
}

// clientBlock is the client object of an advisory: the requester's client
// info block as the broker gave it (server/internal_client.go builds it
// with nats-server's fields: host, id, acc, user, name, lang, ver, server,
// cluster...), or just the account.
func (svc *Service) clientBlock(client json.RawMessage) json.RawMessage {
	if len(client) > 0 {
		return client
	}
	b, _ := json.Marshal(accountOnlyClient{Account: svc.account})
	return b
}

// advise sends the advisory build makes on subject, if anyone listens
// there: build runs only then, so an advisory nobody wants costs one
// subject-index lookup. Callers hold no lock of the layer: a stream
// capturing advisories stores them through the same layer.
func (svc *Service) advise(subject string, build func() any) {
	if svc.hasInterest(subject) {
		svc.publishAdvisory(subject, build())
	}
}

// publishAdvisory sends v, as JSON, on subject.
func (svc *Service) publishAdvisory(subject string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		svc.log.Error("encode advisory", "subject", subject, "err", err)
		return
	}
	if err := svc.broker.Publish(subject, "", nil, b); err != nil {
		svc.log.Debug("send advisory", "subject", subject, "err", err)
	}
}

func (svc *Service) streamAdvisory(stream string, a advisoryAction) {
	svc.advise(advisoryStreamPrefix+a.word+"."+stream, func() any {
		return &streamActionAdvisory{Type: typeStreamAction, ID: nuid.Next(),
			Time: svc.clock.Now().UTC(), Stream: stream, Action: a.name}
	})
}

func (svc *Service) consumerAdvisory(stream, consumer string, a advisoryAction) {
	svc.advise(advisoryConsumerPrefix+a.word+"."+stream+"."+consumer, func() any {
		return &consumerActionAdvisory{Type: typeConsumerAction, ID: nuid.Next(),
			Time: svc.clock.Now().UTC(), Stream: stream, Consumer: consumer, Action: a.name}
	})
}

// auditAPI sends the audit record of one API call: who sent it, its
// subject, request body (left out when empty) and the reply sent.
func (svc *Service) auditAPI(subject string, request, response []byte, client json.RawMessage) {
	svc.advise(advisoryAPI, func() any {
		return &apiAuditAdvisory{Type: typeAPIAudit, ID: nuid.Next(),
			Time: svc.clock.Now().UTC(), Server: svc.serverName, Client: svc.clientBlock(client),
			Subject: subject, Request: string(request), Response: string(response)}
	})
}
