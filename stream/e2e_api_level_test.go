package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRequiredAPILevelHeader: an API request carrying a
// Nats-Required-Api-Level above Wisp's (or not a number) is refused as
// nats-server refuses it, with 412 / 10185 in the reply of the request's
// own type, or a "412 Required Api Level" status for a direct get or a
// pull; a level Wisp reaches changes nothing.
func TestRequiredAPILevelHeader(t *testing.T) {
	n := startNode(t, t.TempDir())
	if _, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "LV", Subjects: []string{"lv"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	publishN(t, n.js, "lv", 1)
	if _, err := n.js.CreateOrUpdateConsumer(ctx(t), "LV", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	req := func(subj, level, body string) *nats.Msg {
		t.Helper()
		m := nats.NewMsg("$JS.API." + subj)
		m.Header.Set("Nats-Required-Api-Level", level)
		m.Data = []byte(body)
		r, err := n.nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		return r
	}
	for _, c := range []struct{ subj, level, body, typ string }{
		{"INFO", "99", "", "account_info_response"},
		{"STREAM.INFO.LV", "99", "", "stream_info_response"},
		{"STREAM.INFO.LV", "abc", "", "stream_info_response"},
		{"STREAM.CREATE.LV2", "5", `{"name":"LV2"}`, "stream_create_response"},
		{"STREAM.PURGE.LV", "99", "", "stream_purge_response"},
		{"CONSUMER.DURABLE.CREATE.LV.D", "99", `{"stream_name":"LV","config":{"durable_name":"D"}}`, "consumer_create_response"},
		{"CONSUMER.DELETE.LV.C", "99", "", "consumer_delete_response"},
		{"CONSUMER.LEADER.STEPDOWN.LV.C", "99", "", "consumer_leader_stepdown_response"},
		{"STREAM.LEADER.STEPDOWN.LV", "99", "", "stream_leader_stepdown_response"},
	} {
		var resp struct {
			Type  string `json:"type"`
			Error *struct {
				Code    int `json:"code"`
				ErrCode int `json:"err_code"`
			} `json:"error"`
		}
		r := req(c.subj, c.level, c.body)
		if err := json.Unmarshal(r.Data, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Type != "io.nats.jetstream.api.v1."+c.typ || resp.Error == nil || resp.Error.Code != 412 || resp.Error.ErrCode != 10185 {
			t.Errorf("%s with level %s: %s", c.subj, c.level, r.Data)
		}
	}
	for _, subj := range []string{"DIRECT.GET.LV", "CONSUMER.MSG.NEXT.LV.C"} {
		if r := req(subj, "99", `{"seq":1,"batch":1}`); r.Header.Get("Status") != "412" {
			t.Errorf("%s: status %q %q", subj, r.Header.Get("Status"), r.Data)
		}
	}
	// Nothing was done: the stream, its message and the consumer are there.
	s, err := n.js.Stream(ctx(t), "LV")
	if err != nil || s.CachedInfo().State.Msgs != 1 || s.CachedInfo().State.Consumers != 1 {
		t.Fatalf("after refusals: %v %+v", err, s.CachedInfo().State)
	}
	if _, err := n.js.Stream(ctx(t), "LV2"); err == nil {
		t.Fatal("LV2 was created")
	}
	if r := req("STREAM.INFO.LV", "4", ""); json.Valid(r.Data) && string(r.Data) != "" {
		var resp struct {
			Error *struct{} `json:"error"`
		}
		if err := json.Unmarshal(r.Data, &resp); err != nil || resp.Error != nil {
			t.Fatalf("level 4: %s", r.Data)
		}
	}
}
