package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// apiCall sends a raw API request and decodes the reply.
func apiCall(t *testing.T, n *node, subject, body string, v any) {
	t.Helper()
	m, err := n.nc.Request("$JS.API."+subject, []byte(body), 2*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
}

type rawInfo struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Error *struct {
		ErrCode int `json:"err_code"`
	} `json:"error"`
	Config struct {
		Durable       string `json:"durable_name"`
		AckPolicy     string `json:"ack_policy"`
		MaxDeliver    int    `json:"max_deliver"`
		FilterSubject string `json:"filter_subject"`
	} `json:"config"`
}

func TestE2ELegacyCreateFormsAndList(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "LG", Subjects: []string{"lg.*"}}, 3)
	var r rawInfo
	apiCall(t, n, "CONSUMER.DURABLE.CREATE.LG.OLD", `{"stream_name":"LG","config":{"durable_name":"OLD","ack_policy":"explicit"}}`, &r)
	if r.Error != nil || r.Name != "OLD" || r.Config.Durable != "OLD" || r.Config.MaxDeliver != -1 || r.Type != "io.nats.jetstream.api.v1.consumer_create_response" {
		t.Fatalf("durable create %+v", r)
	}
	r = rawInfo{}
	apiCall(t, n, "CONSUMER.DURABLE.CREATE.LG.OTHER", `{"stream_name":"LG","config":{"durable_name":"OLD"}}`, &r)
	if r.Error == nil || r.Error.ErrCode != 10017 {
		t.Fatalf("mismatched durable %+v", r)
	}
	r = rawInfo{}
	apiCall(t, n, "CONSUMER.CREATE.LG", `{"stream_name":"LG","config":{"ack_policy":"none","filter_subject":"lg.1"}}`, &r)
	if r.Error != nil || len(r.Name) == 0 || r.Config.FilterSubject != "lg.1" {
		t.Fatalf("unnamed ephemeral %+v", r)
	}
	r = rawInfo{}
	apiCall(t, n, "CONSUMER.CREATE.LG.F.lg.2", `{"stream_name":"LG","config":{"name":"F","filter_subject":"lg.1"}}`, &r)
	if r.Error == nil || r.Error.ErrCode != 10131 {
		t.Fatalf("filter mismatch %+v", r)
	}
	r = rawInfo{}
	apiCall(t, n, "CONSUMER.CREATE.LG", `{"stream_name":"LG","config":{"durable_name":"X"}}`, &r)
	if r.Error == nil || r.Error.ErrCode != 10020 {
		t.Fatalf("durable on ephemeral subject %+v", r)
	}
	var list struct {
		Total     int `json:"total"`
		Consumers []struct {
			Name       string `json:"name"`
			NumPending uint64 `json:"num_pending"`
		} `json:"consumers"`
	}
	apiCall(t, n, "CONSUMER.LIST.LG", `{"offset":0}`, &list)
	if list.Total != 2 || len(list.Consumers) != 2 || list.Consumers[0].Name == "" {
		t.Fatalf("list %+v", list)
	}
	// A bare number asks for that many messages, as old clients send it.
	inbox := nats.NewInbox()
	sub, _ := n.nc.SubscribeSync(inbox)
	n.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.LG.OLD", inbox, []byte("2"))
	for i := 1; i <= 2; i++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "lg.1" && m.Subject != "lg.0" && m.Subject != "lg.2" {
			t.Fatalf("subject %q", m.Subject)
		}
	}
	// A request to a consumer that does not exist gets no responders.
	if m, err := n.nc.Request("$JS.API.CONSUMER.MSG.NEXT.LG.NOPE", nil, time.Second); err == nil {
		t.Fatalf("pull from a missing consumer answered: %q %v %q", m.Subject, m.Header, m.Data)
	}
	svcStats := n.svc.ConsumerStats()
	if len(svcStats) != 2 || svcStats[0].Stream != "LG" {
		t.Fatalf("stats %+v", svcStats)
	}
}
