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

// TestE2EPullStatusMessages checks the status messages on the wire: 408
// with what was left of the request, 100 heartbeats while waiting, 404 for
// no_wait, and 409 for a request over the consumer's limits.
func TestE2EPullStatusMessages(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "ST", Subjects: []string{"st"}}, 2)
	pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D", MaxRequestBatch: 10})
	inbox := nats.NewInbox()
	sub, _ := n.nc.SubscribeSync(inbox)
	req := func(body string) {
		if err := n.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.ST.D", inbox, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() *nats.Msg {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	req(`{"batch":5,"expires":400000000,"idle_heartbeat":150000000}`)
	next()
	next()
	hb := next()
	if hb.Header.Get("Status") != "100" || hb.Header.Get("Description") != "Idle Heartbeat" || len(hb.Data) != 0 {
		t.Fatalf("heartbeat %v", hb.Header)
	}
	for {
		m := next()
		if m.Header.Get("Status") == "100" {
			continue
		}
		if m.Header.Get("Status") != "408" || m.Header.Get("Nats-Pending-Messages") != "3" || m.Header.Get("Nats-Pending-Bytes") != "0" {
			t.Fatalf("timeout status %v", m.Header)
		}
		break
	}
	req(`{"batch":1,"no_wait":true}`)
	if m := next(); m.Header.Get("Status") != "404" {
		t.Fatalf("no_wait %v", m.Header)
	}
	req(`{"batch":11}`)
	if m := next(); m.Header.Get("Status") != "409" || m.Header.Get("Description") != "Exceeded MaxRequestBatch of 10" {
		t.Fatalf("over max batch %v", m.Header)
	}
}

// TestE2EConsumerBadRequests: malformed consumer requests get a JSON error
// (or, for pulls, a status), never silence.
func TestE2EConsumerBadRequests(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "BR", Subjects: []string{"br"}}, 1)
	cases := []struct {
		subject, body string
		code          int
	}{
		{"CONSUMER.CREATE.BR.X", `{"config":`, 10025},
		{"CONSUMER.CREATE.BR.X", `{"stream_name":"BR"}`, 10012},
		{"CONSUMER.CREATE.BR.X", `{"stream_name":"OTHER","config":{}}`, 10056},
		{"CONSUMER.CREATE.BR.X", `{"config":{"deliver_policy":"sometimes"}}`, 10025},
		{"CONSUMER.CREATE.NOPE.X", `{"config":{}}`, 10059},
		{"CONSUMER.CREATE.BR.a/b", `{"config":{}}`, 10127},
		{"CONSUMER.CREATE.BR.X", `{"config":{"name":"Y"}}`, 10017},
		{"CONSUMER.CREATE.BR.X", `{"config":{"deliver_subject":"d.*"}}`, 10079},
		{"CONSUMER.CREATE.BR.X", `{"config":{"deliver_subject":"br"}}`, 10081},
		{"CONSUMER.CREATE.BR.X", `{"config":{"idle_heartbeat":1000000000}}`, 10088},
		{"CONSUMER.CREATE.BR.X", `{"config":{"deliver_subject":"d","max_waiting":3}}`, 10080},
		{"CONSUMER.CREATE.BR.X", `{"config":{"deliver_subject":"d","flow_control":true}}`, 10108},
		{"CONSUMER.CREATE.BR.X", `{"config":{"filter_subject":"br","filter_subjects":["br"]}}`, 10136},
		{"CONSUMER.CREATE.BR.X", `{"config":{"ack_policy":"explicit","backoff":[-1]}}`, 10184},
		{"CONSUMER.DURABLE.CREATE.BR", `{}`, 10003},
		{"CONSUMER.INFO.BR", ``, 10003},
		{"CONSUMER.NAMES.BR", `{"offset":`, 10025},
		{"CONSUMER.LIST.NOPE", ``, 10059},
		{"CONSUMER.BOGUS.BR", ``, 10003},
	}
	for _, tc := range cases {
		var r rawInfo
		apiCall(t, n, tc.subject, tc.body, &r)
		if r.Error == nil || r.Error.ErrCode != tc.code {
			t.Errorf("%s %s: %+v, want %d", tc.subject, tc.body, r.Error, tc.code)
		}
	}
	pullConsumer(t, mustStream(t, n, "BR"), jetstream.ConsumerConfig{Durable: "D"})
	m, err := n.nc.Request("$JS.API.CONSUMER.MSG.NEXT.BR.D", []byte(`{"batch":`), time.Second)
	if err != nil || m.Header.Get("Status") != "400" {
		t.Fatalf("bad pull: %v %v", err, m)
	}
}

func mustStream(t *testing.T, n *node, name string) jetstream.Stream {
	s, err := n.js.Stream(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestE2EAckNext: +NXT acks and asks for the next message on the reply.
func TestE2EAckNext(t *testing.T) {
	n := startNode(t, t.TempDir())
	s := mkStream(t, n, jetstream.StreamConfig{Name: "NX", Subjects: []string{"nx"}}, 3)
	c := pullConsumer(t, s, jetstream.ConsumerConfig{Durable: "D"})
	first := fetchAll(t, c, 1, time.Second)[0]
	inbox := nats.NewInbox()
	sub, _ := n.nc.SubscribeSync(inbox)
	n.nc.PublishRequest(first.Reply(), inbox, []byte("+NXT {\"batch\":2}"))
	for want := uint64(2); want <= 3; want++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if md, _ := m.Metadata(); md.Sequence.Stream != want {
			t.Fatalf("got %d want %d", md.Sequence.Stream, want)
		}
	}
	if ci := info(t, c); ci.AckFloor.Stream != 1 || ci.NumAckPending != 2 {
		t.Fatalf("info %+v", ci)
	}
}
