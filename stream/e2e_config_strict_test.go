package stream_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A stream with no_ack stores what is published to it and answers
// nothing, not even to a publisher that asked for a reply.
func TestE2ENoAckStreamSendsNoPubAck(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "QUIET", Subjects: []string{"quiet"}, NoAck: true}, 0)
	mkStream(t, n, jetstream.StreamConfig{Name: "LOUD", Subjects: []string{"loud"}}, 0)
	quiet, err := n.nc.SubscribeSync("quiet-replies")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.PublishRequest("quiet", "quiet-replies", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Both streams share the file store's writer, which answers in order:
	// once the second publish is acknowledged, the first was handled.
	if _, err := n.nc.Request("loud", []byte("2"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := quiet.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("no_ack stream answered %q", m.Data)
	}
	s, err := n.js.Stream(ctx(t), "QUIET")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("no_ack stream state %+v %v, want the message stored", info.State, err)
	}
}

// Fields the server does not know fail the create as nats-server's do
// (10025), and so does pedantic mode, which Wisp does not implement, and
// a priority policy nats-server does not know.
func TestE2EConfigUnknownFieldsRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "UF", Subjects: []string{"uf"}}, 0)
	for _, tc := range []struct {
		subject, body string
		code          int
		desc          string
	}{
		{"STREAM.CREATE.U1", `{"name":"U1","max_msg":5}`, 10025, `unknown field "max_msg"`},
		{"STREAM.UPDATE.UF", `{"name":"UF","subjects":["uf"],"placement":{"cluster":"c","zone":"z"}}`, 10025, `unknown field "zone"`},
		{"STREAM.CREATE.U2", `{"name":"U2","pedantic":true}`, 10052, `"pedantic" mode is not supported`},
		{"STREAM.CREATE.U3", `{"name":"U3"} {"name":"U3"}`, 10025, "after the request"},
		{"CONSUMER.CREATE.UF.C1", `{"stream_name":"UF","config":{"name":"C1","ack_polcy":"explicit"}}`, 10025, `unknown field "ack_polcy"`},
		{"CONSUMER.CREATE.UF.C2", `{"stream_name":"UF","config":{"name":"C2"},"pedantic":true}`, 10012, `"pedantic" mode is not supported`},
		{"CONSUMER.CREATE.UF.C3", `{"stream_name":"UF","config":{"name":"C3","priority_groups":["g"],"priority_policy":"sometimes"}}`, 10025, `unknown priority policy: "sometimes"`},
	} {
		var r struct {
			Error *struct {
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		apiCall(t, n, tc.subject, tc.body, &r)
		if r.Error == nil || r.Error.ErrCode != tc.code || !strings.Contains(r.Error.Description, tc.desc) {
			t.Errorf("%s %s: error %+v, want %d containing %q", tc.subject, tc.body, r.Error, tc.code, tc.desc)
		}
	}
	// The zero values clients send by default are accepted.
	var r rawInfo
	apiCall(t, n, "CONSUMER.CREATE.UF.C4", `{"stream_name":"UF","config":{"name":"C4","priority_policy":"none","sample_freq":"","priority_groups":[]},"pedantic":false}`, &r)
	if r.Error != nil {
		t.Fatalf("consumer with zero-valued unsupported fields refused: %+v", r.Error)
	}
	apiCall(t, n, "STREAM.CREATE.U5", `{"name":"U5","placement":{"cluster":""},"persist_mode":"default","subject_delete_marker_ttl":0,"mirror_direct":false,"pedantic":false}`, &r)
	if r.Error != nil {
		t.Fatalf("stream with zero-valued unsupported fields refused: %+v", r.Error)
	}
}

// A stream's consumer_limits are the default max_ack_pending and
// inactive_threshold of its consumers, durable or not, and a cap neither
// may exceed (nats-server's 10121 and 10153).
func TestE2EStreamConsumerLimits(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "CL", Subjects: []string{"cl"},
		ConsumerLimits: jetstream.StreamConsumerLimits{InactiveThreshold: time.Minute, MaxAckPending: 10}}, 0)
	for _, tc := range []struct {
		name, config string
		code         int
		desc         string
		ackPending   int
		inactive     time.Duration
	}{
		{"D1", `"durable_name":"D1","ack_policy":"explicit"`, 0, "", 10, time.Minute},
		{"D2", `"durable_name":"D2","ack_policy":"explicit","max_ack_pending":5,"inactive_threshold":30000000000`, 0, "", 5, 30 * time.Second},
		{"D3", `"durable_name":"D3","ack_policy":"explicit","max_ack_pending":20`, 10121, "consumer max ack pending exceeds system limit of 10", 0, 0},
		{"D4", `"durable_name":"D4","ack_policy":"explicit","inactive_threshold":120000000000`, 10153, "consumer inactive threshold exceeds system limit of 1m0s", 0, 0},
	} {
		var r struct {
			Error *struct {
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
			Config struct {
				MaxAckPending     int           `json:"max_ack_pending"`
				InactiveThreshold time.Duration `json:"inactive_threshold"`
			} `json:"config"`
		}
		apiCall(t, n, "CONSUMER.CREATE.CL."+tc.name, `{"stream_name":"CL","config":{`+tc.config+`}}`, &r)
		switch {
		case tc.code != 0 && (r.Error == nil || r.Error.ErrCode != tc.code || r.Error.Description != tc.desc):
			t.Errorf("%s: error %+v, want %d %q", tc.name, r.Error, tc.code, tc.desc)
		case tc.code == 0 && r.Error != nil:
			t.Errorf("%s: refused %+v", tc.name, *r.Error)
		case tc.code == 0 && (r.Config.MaxAckPending != tc.ackPending || r.Config.InactiveThreshold != tc.inactive):
			t.Errorf("%s: max_ack_pending %d inactive_threshold %v, want %d %v", tc.name,
				r.Config.MaxAckPending, r.Config.InactiveThreshold, tc.ackPending, tc.inactive)
		}
	}
}
