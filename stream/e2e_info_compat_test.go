package stream_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-mq/wisp/stream"
)

// A stream that never held a message reports first_seq 0 (and last_seq
// 0); once emptied by a purge it reports last+1, in info and in the
// monitoring figures alike.
func TestE2EEmptyStreamFirstSeq(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	for _, st := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		name := "EMPTY" + st.String()
		s, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: st})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().State; got.FirstSeq != 0 || got.LastSeq != 0 || got.Msgs != 0 {
			t.Fatalf("%s: create answered state %+v, want first 0, last 0", name, got)
		}
		info, err := s.Info(c)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.FirstSeq != 0 || info.State.LastSeq != 0 {
			t.Fatalf("%s: new stream's state %+v, want first 0, last 0", name, info.State)
		}
		for _, ss := range n.svc.Stats().Streams {
			if ss.Name == name && ss.FirstSeq != 0 {
				t.Fatalf("%s: monitoring's first sequence %d, want 0", name, ss.FirstSeq)
			}
		}
		for range 3 {
			if _, err := n.js.Publish(c, name+".a", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if info, _ = s.Info(c); info.State.FirstSeq != 1 || info.State.LastSeq != 3 {
			t.Fatalf("%s: after 3 messages %+v, want 1..3", name, info.State)
		}
		if err := s.Purge(c); err != nil {
			t.Fatal(err)
		}
		if info, _ = s.Info(c); info.State.FirstSeq != 4 || info.State.LastSeq != 3 || info.State.Msgs != 0 {
			t.Fatalf("%s: after purge %+v, want first 4, last 3", name, info.State)
		}
	}
	// A configured first sequence is where the stream starts, empty or not.
	s, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "AT100", Subjects: []string{"at100"}, FirstSeq: 100})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.CachedInfo().State; st.FirstSeq != 100 || st.LastSeq != 99 {
		t.Fatalf("first_seq 100: state %+v, want 100, 99", st)
	}
}

// rawMeta is the part of a stream or consumer reply these tests read.
type rawMeta struct {
	Error *struct {
		ErrCode int `json:"err_code"`
	} `json:"error"`
	Config struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"config"`
	Streams []struct {
		Config struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"config"`
	} `json:"streams"`
	Consumers []struct {
		Config struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"config"`
	} `json:"consumers"`
}

// Replies carry the version metadata keys in config.metadata: the level
// the config requires in every reply, the answering server's version and
// API level in the replies about one asset, never in lists; the keys are
// not stored, so a config sent back as read is the same config.
func TestE2EVersionMetadata(t *testing.T) {
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), ServerVersion: "2.14.0"})
	level := strconv.Itoa(stream.APILevel)
	full := func(req string, user map[string]string) map[string]string {
		m := map[string]string{"_nats.req.level": req, "_nats.ver": "2.14.0", "_nats.level": level}
		for k, v := range user {
			m[k] = v
		}
		return m
	}
	check := func(what string, got, want map[string]string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: metadata %v, want %v", what, got, want)
		}
	}
	call := func(subject string, body any) rawMeta {
		t.Helper()
		b, _ := json.Marshal(body)
		if body == nil {
			b = nil
		}
		var r rawMeta
		apiCall(t, n, subject, string(b), &r)
		if r.Error != nil {
			t.Fatalf("%s: error %d", subject, r.Error.ErrCode)
		}
		return r
	}

	// A plain stream requires level 0; the client's own keys stay, and
	// the reserved keys it sends are replaced, not stored.
	user := map[string]string{"owner": "team-a"}
	sent := map[string]string{"owner": "team-a", "_nats.req.level": "9", "_nats.ver": "0.0.1", "_nats.level": "9"}
	r := call("STREAM.CREATE.MD", map[string]any{"name": "MD", "subjects": []string{"md.>"}, "metadata": sent})
	check("create", r.Config.Metadata, full("0", user))
	check("info", call("STREAM.INFO.MD", nil).Config.Metadata, full("0", user))
	// Creating again with the config as read back is the same stream.
	r = call("STREAM.CREATE.MD", map[string]any{"name": "MD", "subjects": []string{"md.>"}, "metadata": r.Config.Metadata})
	check("create again", r.Config.Metadata, full("0", user))
	// A feature of level 1 raises the required level; update answers with it.
	r = call("STREAM.UPDATE.MD", map[string]any{"name": "MD", "subjects": []string{"md.>"}, "allow_msg_ttl": true})
	check("update", r.Config.Metadata, full("1", nil))
	r = call("STREAM.LIST", nil)
	if len(r.Streams) != 1 {
		t.Fatalf("list: %d streams", len(r.Streams))
	}
	check("list", r.Streams[0].Config.Metadata, map[string]string{"_nats.req.level": "1"})

	// Consumers: the same keys; priority groups need level 1.
	r = call("CONSUMER.CREATE.MD.C1", map[string]any{"stream_name": "MD", "config": map[string]any{
		"durable_name": "C1", "ack_policy": "explicit", "metadata": map[string]string{"_nats.ver": "x"}}})
	check("consumer create", r.Config.Metadata, full("0", nil))
	check("consumer info", call("CONSUMER.INFO.MD.C1", nil).Config.Metadata, full("0", nil))
	r = call("CONSUMER.CREATE.MD.C2", map[string]any{"stream_name": "MD", "config": map[string]any{
		"durable_name": "C2", "ack_policy": "explicit", "priority_groups": []string{"g"}, "priority_policy": "overflow"}})
	check("grouped consumer", r.Config.Metadata, full("1", nil))
	r = call("CONSUMER.LIST.MD", nil)
	if len(r.Consumers) != 2 {
		t.Fatalf("consumer list: %d consumers", len(r.Consumers))
	}
	check("consumer list", r.Consumers[0].Config.Metadata, map[string]string{"_nats.req.level": "0"})

	// Through nats.go: a consumer updated with the config it read is
	// unchanged.
	c := ctx(t)
	cons, err := n.js.Consumer(c, "MD", "C1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	cfg.AckWait = 45 * time.Second
	if _, err := n.js.UpdateConsumer(c, "MD", cfg); err != nil {
		t.Fatalf("update with the config as read: %v", err)
	}
}

// A server that is not clustered names itself the leader of a stream in
// STREAM.INFO's cluster section; create and list replies have none.
func TestE2EStandaloneInfoLeader(t *testing.T) {
	n := startNodeWith(t, stream.Options{StoreDir: t.TempDir(), ServerName: "solo"})
	c := ctx(t)
	s, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "SOLO", Subjects: []string{"solo"}})
	if err != nil {
		t.Fatal(err)
	}
	if ci := s.CachedInfo().Cluster; ci != nil {
		t.Fatalf("create: cluster %+v, want none", ci)
	}
	info, err := s.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Leader != "solo" || info.Cluster.Name != "" || len(info.Cluster.Replicas) != 0 {
		t.Fatalf("info: cluster %+v, want leader solo only", info.Cluster)
	}
	for si := range n.js.ListStreams(c).Info() {
		if si.Cluster != nil {
			t.Fatalf("list: cluster %+v, want none", si.Cluster)
		}
	}
}

// The stream config's permission and TTL flags are written out when
// false, as clients reading the raw JSON see them from nats-server.
func TestE2EConfigFalseFlagsWritten(t *testing.T) {
	n := startNode(t, t.TempDir())
	var r struct {
		Config map[string]any `json:"config"`
	}
	apiCall(t, n, "STREAM.CREATE.FLAGS", `{"name":"FLAGS","subjects":["flags"]}`, &r)
	for _, k := range []string{"sealed", "deny_delete", "deny_purge", "allow_rollup_hdrs", "allow_msg_ttl"} {
		if v, ok := r.Config[k]; !ok || v != false {
			t.Errorf("config %q = %v (present %v), want false", k, v, ok)
		}
	}
}

// On a server that is not clustered, a stream's or a consumer's
// step-down is answered "clustering support required" (503 / 10010), in
// the reply type of the request, whether or not the stream exists.
func TestE2EStandaloneStepDown(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := ctx(t)
	s, err := n.js.CreateStream(c, jetstream.StreamConfig{Name: "SD", Subjects: []string{"sd"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrUpdateConsumer(c, jetstream.ConsumerConfig{Durable: "C"}); err != nil {
		t.Fatal(err)
	}
	for subject, typ := range map[string]string{
		"STREAM.LEADER.STEPDOWN.SD":       "io.nats.jetstream.api.v1.stream_leader_stepdown_response",
		"STREAM.LEADER.STEPDOWN.NOPE":     "io.nats.jetstream.api.v1.stream_leader_stepdown_response",
		"CONSUMER.LEADER.STEPDOWN.SD.C":   "io.nats.jetstream.api.v1.consumer_leader_stepdown_response",
		"CONSUMER.LEADER.STEPDOWN.NOPE.C": "io.nats.jetstream.api.v1.consumer_leader_stepdown_response",
	} {
		var r struct {
			Type  string `json:"type"`
			Error *struct {
				Code    int `json:"code"`
				ErrCode int `json:"err_code"`
			} `json:"error"`
		}
		apiCall(t, n, subject, "", &r)
		if r.Type != typ || r.Error == nil || r.Error.Code != 503 || r.Error.ErrCode != 10010 {
			t.Errorf("%s: %+v (error %+v), want %s with 503 / 10010", subject, r, r.Error, typ)
		}
	}
}
