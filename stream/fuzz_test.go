package stream

import (
	"fmt"
	"testing"
	"time"
)

// FuzzAPIRequest sends arbitrary bodies to every API operation: each must
// produce a reply that encodes, never a panic.
func FuzzAPIRequest(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"name":"S"}`, `{"name":"X","subjects":["x.>"],"storage":"memory"}`,
		`{"seq":1}`, `{"last_by_subj":"s.a"}`, `{"next_by_subj":"s.*","seq":2}`,
		`{"filter":"s.a","keep":1}`, `{"offset":3,"subject":"s.>"}`, `{"subjects_filter":">"}`,
		`{"name":"S","subjects":["s.>"],"storage":"memory","max_msgs":-5}`, `[`, `null`, `"str"`,
		`{"retention":"workqueue","discard":"new","max_age":-1}`,
		`{"config":{"durable_name":"C2","ack_policy":"explicit","filter_subject":"s.a"}}`,
		`{"stream_name":"S","config":{"ack_policy":"none","deliver_subject":"d","pause_until":"2030-01-01T00:00:00Z"}}`,
		`{"pause_until":"2030-01-01T00:00:00Z"}`, `{"pause_until":"1970-01-01T00:00:00Z"}`, `{"seq":0}`, `{"seq":18446744073709551615}`,
		"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", "NATS/1.0\r\nNats-Rollup: ALL\r\n\r\n", "NATS/1.0\r\nNats-Rollup: x\r\n\r\n",
		`{"name":"X","placement":{"cluster":"c"},"pedantic":true}`, `{"name":"X","bogus":1}`, `{"name":"X"} {}`,
		`{"config":{"name":"C2","priority_groups":["g"],"sample_freq":"5%"}}`,
		`{"seq":1,"batch":3,"next_by_subj":"s.*","max_bytes":10,"start_time":"2030-01-01T00:00:00Z","multi_last":["s.>"],"up_to_seq":2,"up_to_time":"2020-01-01T00:00:00Z","no_hdr":true}`,
		`{"name":"X","subjects":["x.>"],"subject_transform":{"src":"x.*","dest":"y.{{wildcard(1)}}"},"republish":{"src":">","dest":"r.>","headers_only":true}}`,
		`{"name":"X","mirror":{"name":"S","opt_start_seq":2,"filter_subject":"s.a","subject_transforms":[{"src":"s.>","dest":"m.>"}],"external":{"api":"$JS.x.API","deliver":""}}}`,
		`{"name":"X","sources":[{"name":"S","opt_start_time":"2030-01-01T00:00:00Z"},{"name":"S","filter_subject":"s.b","subject_transforms":[{"src":"s.b","dest":"{{bad}}"}]}]}`,
		`{"name":"X","subjects":["x.>"],"allow_atomic":true,"allow_msg_counter":true,"discard":"new","retention":"interest"}`,
		`{"name":"X","mirror":{"name":"S"},"allow_msg_counter":true,"allow_atomic":true}`,
		`{"name":"S","subjects":["s.>"],"storage":"memory","allow_msg_counter":true}`,
		"NATS/1.0\r\nNats-Batch-Id: b\r\nNats-Batch-Sequence: 1\r\n\r\n",
		"NATS/1.0\r\nNats-Batch-Id: b\r\nNats-Batch-Sequence: 2\r\nNats-Batch-Commit: 1\r\n\r\n",
		"NATS/1.0\r\nNats-Batch-Id: b\r\nNats-Batch-Sequence: 3\r\nNats-Batch-Commit: eob\r\n\r\n",
		"NATS/1.0\r\nNats-Incr: -123456789012345678901234567890\r\n\r\n", "NATS/1.0\r\nNats-Incr: 1e3\r\n\r\n",
		"NATS/1.0\r\nNats-Incr: 2\r\nNats-Stream-Source: K 1 k.a k.a k.a\r\n\r\n",
		`{"config":{"name":"C2","priority_groups":["g","h"],"priority_policy":"pinned_client","priority_timeout":-5,"metadata":{"wisp.dead_letter_subject":"dlq.s"}}}`,
		`{"config":{"name":"C2","priority_groups":["a.b",""],"priority_policy":"prioritized","deliver_subject":"d"}}`,
		`{"group":"g"}`, `{"group":"bad name"}`,
		`{"batch":2,"expires":1000000,"group":"g","min_pending":1,"min_ack_pending":-1,"id":"x","priority":10}`,
		`{"batch":1,"group":"g","priority":3}`, `7`,
		`{"name":"X","subjects":["x.>"],"allow_msg_ttl":true,"subject_delete_marker_ttl":1000000000,"max_age":5000000000}`,
		`{"name":"S","subjects":["s.>"],"storage":"memory","allow_msg_ttl":false,"subject_delete_marker_ttl":-1}`,
		`{"name":"X","mirror":{"name":"S"},"subject_delete_marker_ttl":999999999}`,
		"NATS/1.0\r\nNats-TTL: 2s\r\n\r\n", "NATS/1.0\r\nNats-TTL: never\r\n\r\n", "NATS/1.0\r\nNats-TTL: -1\r\n\r\n",
		"NATS/1.0\r\nNats-TTL: 1\r\nNats-Marker-Reason: MaxAge\r\nKV-Operation: PURGE\r\n\r\n",
		"NATS/1.0\r\nNats-Schedule: @at 2020-01-01T00:00:00Z\r\nNats-Schedule-Target: s.t\r\nNats-Schedule-TTL: 5s\r\n\r\n",
		"NATS/1.0\r\nNats-Schedule: 0 0 * * * *\r\nNats-Schedule-Time-Zone: UTC\r\nNats-Schedule-Target: s.t\r\nNats-Schedule-Source: s.a\r\n\r\n",
		"NATS/1.0\r\nNats-Schedule-Next: purge\r\nNats-Scheduler: s.a\r\n\r\n",
		`{"name":"X","subjects":["x.>"],"allow_msg_schedules":true,"discard":"new"}`,
		`{"name":"X","mirror":{"name":"S"},"allow_batched":true}`, `{"name":"S","subjects":["s.>"],"storage":"memory","allow_batched":false}`,
		"_INBOX.f.10.fail.1.0", "_INBOX.f.10.ok.2.1", "_INBOX.f.2.fail.3.2", "_INBOX.f.x.fail.2.3", "_INBOX.f.10.ok.9.4",
		"NATS/1.0\r\nNats-Required-Api-Level: 99\r\n\r\n",
	} {
		for op := range 20 {
			f.Add(uint8(op), []byte(seed))
		}
	}
	b := newMemBroker()
	svc, err := New(b, withPebble(Options{StoreDir: f.TempDir()}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	svc.route("STREAM.CREATE.S", []byte(`{"name":"S","subjects":["s.>"],"storage":"memory","allow_rollup_hdrs":true,"allow_direct":true,"allow_atomic":true,"allow_msg_ttl":true,"subject_delete_marker_ttl":1000000000,"allow_msg_schedules":true,"allow_batched":true}`))
	svc.route("STREAM.CREATE.K", []byte(`{"name":"K","subjects":["k.>"],"storage":"memory","allow_msg_counter":true,"allow_atomic":true}`))
	svc.route("CONSUMER.CREATE.S.C", []byte(`{"config":{"durable_name":"C","ack_policy":"explicit"}}`))
	svc.route("CONSUMER.CREATE.S.P", []byte(`{"config":{"durable_name":"P","ack_policy":"explicit","priority_groups":["g"],"priority_policy":"pinned_client","metadata":{"wisp.dead_letter_subject":"dlq.s"}}}`))
	svc.route("CONSUMER.CREATE.S.O", []byte(`{"config":{"durable_name":"O","ack_policy":"explicit","priority_groups":["g"],"priority_policy":"overflow"}}`))
	ops := []string{"INFO", "STREAM.CREATE.X", "STREAM.UPDATE.S", "STREAM.INFO.S", "STREAM.NAMES",
		"STREAM.LIST", "STREAM.MSG.GET.S", "STREAM.PURGE.S", "STREAM.MSG.DELETE.S", "STREAM.DELETE.X",
		"CONSUMER.CREATE.S.C2", "CONSUMER.DURABLE.CREATE.S.C3", "CONSUMER.INFO.S.C", "CONSUMER.NAMES.S",
		"CONSUMER.LIST.S", "CONSUMER.PAUSE.S.C", "CONSUMER.RESET.S.C", "CONSUMER.DELETE.S.C2",
		"CONSUMER.UNPIN.S.P", "CONSUMER.UNPIN.S.C"}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		resp := svc.route(ops[int(op)%len(ops)], body)
		if resp == nil {
			t.Fatal("no reply")
		}
		svc.directGet("S", "_INBOX.fuzz", body)
		// Pull requests with priority fields, on priority consumers.
		svc.pullRequest([]byte(msgNextPrefix+"S.P"), []byte("_INBOX.fuzz"), body)
		svc.pullRequest([]byte(msgNextPrefix+"S.O"), []byte("_INBOX.fuzz"), body)
		b.Publish("s.a", "", body, body) // as headers and payload
		b.Publish("k.a", "", body, nil)  // an increment, or a batch of them
		// A fast batch message: the batch is in the reply subject.
		b.Publish("s.a", string(body)+".$FI", body, body)
	})
}

// FuzzDecodeMeta: a stored stream definition is bytes from disk.
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"id":1,"created":"2024-01-01T00:00:00Z","config":{"name":"S","subjects":["s"],"retention":"limits","storage":"file","discard":"old"}}`))
	f.Add([]byte(`{"id":0}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, v []byte) {
		meta, err := decodeMeta(v)
		if err == nil && (meta.ID == 0 || !validName(meta.Config.Name)) {
			t.Fatal("accepted an invalid definition")
		}
	})
}

// FuzzHeaders: header parsing of publisher-supplied bytes never panics.
func FuzzHeaders(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNats-Msg-Id: x\r\nNats-Expected-Last-Sequence: 5\r\n\r\n"))
	f.Add([]byte("NATS/1.0 503\r\n\r\n"))
	f.Add([]byte(":\n:\r\n"))
	f.Add([]byte("NATS/1.0\r\nNats-TTL: 1m\r\nnats-ttl: 5\r\n\r\n"))
	f.Add([]byte("NATS/1.0\r\nNats-Schedule: */5 0-30/2 * ? JAN-MAR mon,fri\r\nNats-Schedule-Time-Zone: Europe/Paris\r\n\r\n"))
	f.Add([]byte("NATS/1.0\r\nNats-Schedule: @every 3s\r\nNats-Schedule-Target: t\r\nNats-Msg-Id: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		headerValue(hdr, hdrMsgID)
		headerUint(hdr, hdrExpLastSeq)
		directGetHeader("S", []byte("s"), 1, 1, hdr)
		headerTTL(hdr)
		isDeleteMarker(hdr)
		shapingHeaderNames(hdr)
		if at, repeat, _ := nextFiring(hdr, 1767225600e9, 1767225600e9); at != 0 {
			producedHeader(hdr, "s", repeat, time.Unix(0, at), headerValue(hdr, hdrScheduleTTL), nil)
		}
		if out := replaceHeader(hdr, hdrTTL, "5"); headerTTL(out) != 5 {
			t.Fatalf("replaceHeader(%q) = %q", hdr, out)
		}
	})
}

// FuzzSubjects: subject validation and matching accept any string.
func FuzzSubjects(f *testing.F) {
	f.Add("a.b.c", "a.*.>")
	f.Add(">", "")
	f.Add("a..b", "*")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, vb := validSubject(a), validSubject(b)
		if va && vb && subjectsCollide(a, b) != subjectsCollide(b, a) {
			t.Fatal("collide is not symmetric")
		}
		if va && vb && !hasWildcard(b) && subjectMatches(a, b) && !subjectsCollide(a, b) {
			t.Fatal("a match must collide")
		}
	})
}

// FuzzFastReply: a fast batch message's reply subject comes from the
// network. The parser does not panic, and what it accepts it reads back
// the same from the reply subject its fields make.
func FuzzFastReply(f *testing.F) {
	for _, seed := range []string{"_INBOX.a.10.fail.1.0.$FI", "_INBOX.a.0.ok.2.1.$FI", "_INBOX.a.70000.fail.3.2.$FI",
		"_INBOX.a.-1.ok.4.3.$FI", "x.y.4.4.$FI", ".$FI", "a.b.c.d.e.$FI", "_INBOX.a.10.fail.18446744073709551615.1.$FI"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		if !isFastReply([]byte(reply)) {
			return
		}
		q, ok := parseFastReply(reply)
		if !ok {
			return
		}
		gap := "fail"
		if q.gapOK {
			gap = "ok"
		}
		again := fmt.Sprintf("p.%s.%d.%s.%d.%d.$FI", q.id, q.flow, gap, q.seq, q.op)
		q2, ok := parseFastReply(again)
		if !ok || q2 != q {
			t.Fatalf("%q read as %+v; %q as %+v (%v)", reply, q, again, q2, ok)
		}
		if q.seq == 0 || q.flow == 0 || q.id == "" || q.eob && q.seq == 1 {
			t.Fatalf("%q accepted as %+v", reply, q)
		}
	})
}
