package stream

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestCreateInfoPublish(t *testing.T) {
	h := newHarness(t)
	si := h.create(Config{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if si.Config.MaxMsgs != -1 || si.Config.Duplicates != DefaultDuplicateWindow || si.Config.Replicas != 1 {
		t.Fatalf("defaults not applied: %+v", si.Config)
	}
	wantState(t, si, 0, 0, 0) // a stream that never held a message reports first_seq 0
	for i := 1; i <= 3; i++ {
		a := h.pub("orders.new", "x")
		if a.Error != nil || a.Seq != uint64(i) || a.Stream != "ORDERS" {
			t.Fatalf("ack %+v", a)
		}
	}
	wantState(t, h.info("ORDERS"), 3, 1, 3)
}

func TestCreateDefaultsSubjectToName(t *testing.T) {
	h := newHarness(t)
	si := h.create(Config{Name: "EVENTS"})
	if len(si.Config.Subjects) != 1 || si.Config.Subjects[0] != "EVENTS" {
		t.Fatalf("subjects %v", si.Config.Subjects)
	}
	if a := h.pub("EVENTS", "x"); a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
}

func TestCreateIdempotentAndConflict(t *testing.T) {
	h := newHarness(t)
	cfg := Config{Name: "S", Subjects: []string{"s.*"}, MaxMsgs: 10}
	h.create(cfg)
	h.create(cfg) // identical: fine
	cfg.MaxMsgs = 11
	wantErr(t, h.b.api(t, "STREAM.CREATE.S", cfg, nil), 10058)
	h.restart()
	cfg.MaxMsgs = 10
	h.create(cfg) // still identical after a restart
}

func TestCreateErrors(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "A", Subjects: []string{"a.>"}})
	cases := []struct {
		name    string
		subject string
		body    string
		code    uint16
	}{
		{"invalid json", "STREAM.CREATE.X", `{"name":`, 10025},
		{"empty body", "STREAM.CREATE.X", ``, 10025},
		{"wrong type", "STREAM.CREATE.X", `{"max_msgs":"lots"}`, 10025},
		{"bad enum", "STREAM.CREATE.X", `{"retention":"forever"}`, 10025},
		{"name mismatch", "STREAM.CREATE.X", `{"name":"Y"}`, 10056},
		{"overlap", "STREAM.CREATE.X", `{"name":"X","subjects":["a.b"]}`, 10065},
		{"overlap wildcard", "STREAM.CREATE.X", `{"name":"X","subjects":["*.c"]}`, 10065},
		{"replicas", "STREAM.CREATE.X", `{"name":"X","num_replicas":3}`, 10074},
		{"bad subject", "STREAM.CREATE.X", `{"name":"X","subjects":["a..b"]}`, 10052},
		{"duplicate subjects", "STREAM.CREATE.X", `{"name":"X","subjects":["x","x"]}`, 10052},
		{"api subjects", "STREAM.CREATE.X", `{"name":"X","subjects":["$JS.API.>"]}`, 10052},
		{"negative age", "STREAM.CREATE.X", `{"name":"X","max_age":-1}`, 10052},
		{"mirror with subjects", "STREAM.CREATE.X", `{"name":"X","subjects":["x"],"mirror":{"name":"A"}}`, 10034},
		{"path in name", "STREAM.CREATE.a/b", `{"name":"a/b"}`, 10128},
		{"dup window over age", "STREAM.CREATE.X", `{"name":"X","max_age":1000,"duplicate_window":2000}`, 10052},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, h.b.api(t, c.subject, c.body, nil), c.code)
		})
	}
}

func TestUnknownStreamEverywhere(t *testing.T) {
	h := newHarness(t)
	for _, op := range []string{"INFO", "DELETE", "PURGE", "MSG.GET", "MSG.DELETE"} {
		wantErr(t, h.b.api(t, "STREAM."+op+".NOPE", `{"seq":1}`, nil), 10059)
	}
	wantErr(t, h.b.api(t, "STREAM.UPDATE.NOPE", Config{Name: "NOPE"}, nil), 10059)
	wantErr(t, h.b.api(t, "STREAM.BOGUS.X", nil, nil), 10003)
	wantErr(t, h.b.api(t, "CONSUMER.INFO.X.Y", nil, nil), 10059) // consumers: stream X does not exist
}

func TestUpdate(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "U", Subjects: []string{"u.1"}})
	for i := 0; i < 10; i++ {
		h.pub("u.1", "x")
	}
	var r streamInfoResponse
	if e := h.b.api(t, "STREAM.UPDATE.U", Config{Name: "U", Subjects: []string{"u.1", "u.2"}, MaxMsgs: 4}, &r); e != nil {
		t.Fatal(e)
	}
	wantState(t, r.StreamInfo, 4, 7, 10) // trimmed at once
	if a := h.pub("u.2", "x"); a.Seq != 11 {
		t.Fatalf("new subject not captured: %+v", a)
	}
	wantErr(t, h.b.api(t, "STREAM.UPDATE.U", Config{Name: "U", Storage: MemoryStorage}, nil), 10052)
	wantErr(t, h.b.api(t, "STREAM.UPDATE.U", Config{Name: "U", Retention: RetentionWorkQueue}, nil), 10052)
	// Dropping a subject stops capturing it.
	if e := h.b.api(t, "STREAM.UPDATE.U", Config{Name: "U", Subjects: []string{"u.2"}}, nil); e != nil {
		t.Fatal(e)
	}
	h.b.Publish("u.1", "", nil, []byte("lost"))
	if si := h.info("U"); si.State.LastSeq != 11 {
		t.Fatalf("u.1 still captured: %+v", si.State)
	}
	// Overlap with another stream on update.
	h.create(Config{Name: "V", Subjects: []string{"v"}})
	wantErr(t, h.b.api(t, "STREAM.UPDATE.V", Config{Name: "V", Subjects: []string{"u.*"}}, nil), 10065)
}

func TestDelete(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "D", Subjects: []string{"d"}})
	h.pub("d", "x")
	var r successResponse
	if e := h.b.api(t, "STREAM.DELETE.D", nil, &r); e != nil || !r.Success {
		t.Fatalf("delete: %v %+v", e, r)
	}
	wantErr(t, h.b.api(t, "STREAM.INFO.D", nil, nil), 10059)
	// The name and subjects are free again, and sequences restart.
	h.create(Config{Name: "D", Subjects: []string{"d"}})
	if a := h.pub("d", "x"); a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
	h.restart()
	wantState(t, h.info("D"), 1, 1, 1)
}

func TestNamesAndListPaging(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 300; i++ {
		h.create(Config{Name: fmt.Sprintf("S%03d", i), Subjects: []string{fmt.Sprintf("s.%d.*", i)}})
	}
	var names namesResponse
	if e := h.b.api(t, "STREAM.NAMES", `{"offset":0}`, &names); e != nil {
		t.Fatal(e)
	}
	if names.Total != 300 || len(names.Streams) != 300 || names.Streams[0] != "S000" {
		t.Fatalf("names total=%d n=%d", names.Total, len(names.Streams))
	}
	var list listResponse
	if e := h.b.api(t, "STREAM.LIST", `{"offset":0}`, &list); e != nil {
		t.Fatal(e)
	}
	if list.Total != 300 || len(list.Streams) != listPageSize {
		t.Fatalf("list total=%d n=%d", list.Total, len(list.Streams))
	}
	if e := h.b.api(t, "STREAM.LIST", `{"offset":256}`, &list); e != nil {
		t.Fatal(e)
	}
	if len(list.Streams) != 44 || list.Offset != 256 || list.Streams[0].Config.Name != "S256" {
		t.Fatalf("second page n=%d offset=%d", len(list.Streams), list.Offset)
	}
	names = namesResponse{}
	if e := h.b.api(t, "STREAM.NAMES", `{"subject":"s.42.x"}`, &names); e != nil {
		t.Fatal(e)
	}
	if names.Total != 1 || names.Streams[0] != "S042" {
		t.Fatalf("by subject: %+v", names)
	}
	names = namesResponse{}
	if e := h.b.api(t, "STREAM.NAMES", `{"subject":"nomatch"}`, &names); e != nil {
		t.Fatal(e)
	}
	if names.Total != 0 || names.Streams == nil {
		t.Fatalf("no match must be an empty list: %+v", names)
	}
	wantErr(t, h.b.api(t, "STREAM.NAMES", `[1,2]`, nil), 10025)
}

func TestInfoSubjectsFilter(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "F", Subjects: []string{"f.>"}})
	h.pub("f.a", "1")
	h.pub("f.a", "2")
	h.pub("f.b", "3")
	h.pub("f.c.d", "4")
	var r streamInfoResponse
	if e := h.b.api(t, "STREAM.INFO.F", `{"subjects_filter":"f.*"}`, &r); e != nil {
		t.Fatal(e)
	}
	got := r.State.Subjects
	if len(got) != 2 || got["f.a"] != 2 || got["f.b"] != 1 || r.Total != 2 {
		t.Fatalf("subjects %v total %d", got, r.Total)
	}
	if r.State.NumSubjects != 3 {
		t.Fatalf("num_subjects %d", r.State.NumSubjects)
	}
}

func TestPurgeVariants(t *testing.T) {
	h := newHarness(t)
	fill := func() {
		h.b.api(t, "STREAM.PURGE.P", nil, nil)
		for i := 0; i < 10; i++ {
			h.pub(fmt.Sprintf("p.%d", i%2), "x") // p.0 gets even positions
		}
	}
	h.create(Config{Name: "P", Subjects: []string{"p.*"}})
	purge := func(req string) uint64 {
		t.Helper()
		var r purgeResponse
		if e := h.b.api(t, "STREAM.PURGE.P", req, &r); e != nil || !r.Success {
			t.Fatalf("purge %s: %v", req, e)
		}
		return r.Purged
	}
	fill()
	if n := purge(`{}`); n != 10 {
		t.Fatalf("purged %d", n)
	}
	wantState(t, h.info("P"), 0, 11, 10) // first = last+1
	if a := h.pub("p.0", "x"); a.Seq != 11 {
		t.Fatalf("sequence went back: %+v", a)
	}

	fill() // seqs 12..21
	if n := purge(`{"filter":"p.0"}`); n != 5 {
		t.Fatalf("filter purged %d", n)
	}
	si := h.info("P")
	wantState(t, si, 5, 13, 21)
	if si.State.NumDeleted != 4 {
		t.Fatalf("num_deleted %d", si.State.NumDeleted)
	}

	fill() // 22..31
	if n := purge(`{"keep":3}`); n != 7 {
		t.Fatalf("keep purged %d", n)
	}
	wantState(t, h.info("P"), 3, 29, 31)

	fill() // 32..41
	if n := purge(`{"seq":37}`); n != 5 {
		t.Fatalf("seq purged %d", n)
	}
	wantState(t, h.info("P"), 5, 37, 41)

	fill() // 42..51: p.1 = 43,45,47,49,51
	if n := purge(`{"filter":"p.1","keep":2}`); n != 3 {
		t.Fatalf("filter+keep purged %d", n)
	}
	wantState(t, h.info("P"), 7, 42, 51)

	wantErr(t, h.b.api(t, "STREAM.PURGE.P", `{"seq":3,"keep":1}`, nil), 10003)
	h.restart()
	wantState(t, h.info("P"), 7, 42, 51)
}

func TestMsgGetAndDelete(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "G", Subjects: []string{"g.>"}})
	h.pub("g.a", "one", "K", "v1")
	h.pub("g.b", "two")
	h.pub("g.a", "three")
	get := func(req string) *storedMsg {
		t.Helper()
		var r msgGetResponse
		if e := h.b.api(t, "STREAM.MSG.GET.G", req, &r); e != nil {
			t.Fatalf("get %s: %v", req, e)
		}
		return r.Message
	}
	m := get(`{"seq":1}`)
	if m.Subject != "g.a" || string(m.Data) != "one" || string(headerValue(m.Header, "K")) != "v1" || m.Time.IsZero() {
		t.Fatalf("seq 1: %+v", m)
	}
	if m := get(`{"last_by_subj":"g.a"}`); m.Sequence != 3 {
		t.Fatalf("last_by_subj: %d", m.Sequence)
	}
	if m := get(`{"last_by_subj":"g.*"}`); m.Sequence != 3 {
		t.Fatalf("last_by_subj wildcard: %d", m.Sequence)
	}
	if m := get(`{"next_by_subj":"g.a","seq":2}`); m.Sequence != 3 {
		t.Fatalf("next_by_subj: %d", m.Sequence)
	}
	if m := get(`{"next_by_subj":"g.>"}`); m.Sequence != 1 {
		t.Fatalf("next_by_subj wildcard: %d", m.Sequence)
	}
	wantErr(t, h.b.api(t, "STREAM.MSG.GET.G", `{"seq":9}`, nil), 10037)
	wantErr(t, h.b.api(t, "STREAM.MSG.GET.G", `{"last_by_subj":"g.zzz"}`, nil), 10037)
	wantErr(t, h.b.api(t, "STREAM.MSG.GET.G", `{}`, nil), 10003)
	wantErr(t, h.b.api(t, "STREAM.MSG.GET.G", `{"seq":1,"last_by_subj":"g.a"}`, nil), 10003)

	var ok successResponse
	if e := h.b.api(t, "STREAM.MSG.DELETE.G", `{"seq":3,"no_erase":true}`, &ok); e != nil || !ok.Success {
		t.Fatalf("delete: %v", e)
	}
	wantErr(t, h.b.api(t, "STREAM.MSG.DELETE.G", `{"seq":3}`, nil), 10057)
	wantErr(t, h.b.api(t, "STREAM.MSG.GET.G", `{"seq":3}`, nil), 10037)
	if m := get(`{"last_by_subj":"g.a"}`); m.Sequence != 1 {
		t.Fatalf("last_by_subj after delete: %d", m.Sequence)
	}
	wantState(t, h.info("G"), 2, 1, 3) // last kept though its message is gone
	h.restart()
	wantState(t, h.info("G"), 2, 1, 3)
	if a := h.pub("g.c", "x"); a.Seq != 4 {
		t.Fatalf("sequence reused after delete+restart: %+v", a)
	}
}

func TestDirectGet(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "DG", Subjects: []string{"dg.>"}, AllowDirect: true})
	h.create(Config{Name: "ND", Subjects: []string{"nd"}})
	h.pub("dg.a", "hello", "X-Custom", "yes")
	h.pub("dg.b", "world")
	r := h.b.request(t, apiPrefix+"DIRECT.GET.DG", nil, []byte(`{"seq":1}`))
	if string(r.data) != "hello" || string(headerValue(r.hdr, hdrSequence)) != "1" ||
		string(headerValue(r.hdr, hdrSubject)) != "dg.a" || string(headerValue(r.hdr, hdrStream)) != "DG" ||
		string(headerValue(r.hdr, "X-Custom")) != "yes" || headerValue(r.hdr, hdrTimeStamp) == nil {
		t.Fatalf("direct get: %q %q", r.hdr, r.data)
	}
	r = h.b.request(t, apiPrefix+"DIRECT.GET.DG.dg.b", nil, nil)
	if string(r.data) != "world" {
		t.Fatalf("direct get by subject: %q %q", r.hdr, r.data)
	}
	r = h.b.request(t, apiPrefix+"DIRECT.GET.DG", nil, []byte(`{"seq":99}`))
	if !strings.HasPrefix(string(r.hdr), "NATS/1.0 404") {
		t.Fatalf("missing: %q", r.hdr)
	}
	r = h.b.request(t, apiPrefix+"DIRECT.GET.ND", nil, []byte(`{"seq":1}`))
	if !strings.HasPrefix(string(r.hdr), "NATS/1.0 503") {
		t.Fatalf("not allowed: %q", r.hdr)
	}
	r = h.b.request(t, apiPrefix+"DIRECT.GET.DG", nil, []byte(`{bad`))
	if !strings.HasPrefix(string(r.hdr), "NATS/1.0 408") {
		t.Fatalf("bad request: %q", r.hdr)
	}
}

func TestAccountInfo(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "F1", Subjects: []string{"f1"}})
	h.create(Config{Name: "M1", Subjects: []string{"m1"}, Storage: MemoryStorage})
	h.pub("f1", "abc")
	h.pub("m1", "abcd")
	var r accountInfoResponse
	if e := h.b.api(t, "INFO", nil, &r); e != nil {
		t.Fatal(e)
	}
	if r.Streams != 2 || r.Store != 2+3+16 || r.Memory != 2+4+16 || r.Limits.MaxStreams != -1 {
		t.Fatalf("account info %+v", r)
	}
	raw, _ := json.Marshal(r)
	if !strings.Contains(string(raw), `"type":"io.nats.jetstream.api.v1.account_info_response"`) {
		t.Fatalf("type missing: %s", raw)
	}
}
