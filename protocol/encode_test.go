package protocol

import (
	"testing"
)

func TestEncoders(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"MSG", AppendMsg(nil, b("foo"), b("1"), nil, b("hello")), "MSG foo 1 5\r\nhello\r\n"},
		{"MSG reply", AppendMsg(nil, b("foo"), b("1"), b("r"), b("hi")), "MSG foo 1 r 2\r\nhi\r\n"},
		{"MSG empty", AppendMsg(nil, b("foo"), b("1"), nil, nil), "MSG foo 1 0\r\n\r\n"},
		{"HMSG", AppendHMsg(nil, b("foo"), b("1"), nil, 12, b("NATS/1.0\r\n\r\nhi")), "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
		{"HMSG reply", AppendHMsg(nil, b("f"), b("2"), b("r"), 12, b("NATS/1.0\r\n\r\n")), "HMSG f 2 r 12 12\r\nNATS/1.0\r\n\r\n\r\n"},
		{"PUB", AppendPub(nil, b("foo"), nil, b("hi")), "PUB foo 2\r\nhi\r\n"},
		{"PUB reply", AppendPub(nil, b("foo"), b("r"), b("hi")), "PUB foo r 2\r\nhi\r\n"},
		{"HPUB", AppendHPub(nil, b("foo"), b("r"), 12, b("NATS/1.0\r\n\r\nhi")), "HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
		{"SUB", AppendSub(nil, b("foo.*"), nil, b("7")), "SUB foo.* 7\r\n"},
		{"SUB queue", AppendSub(nil, b("foo"), b("q"), b("7")), "SUB foo q 7\r\n"},
		{"UNSUB", AppendUnsub(nil, b("7"), 0), "UNSUB 7\r\n"},
		{"UNSUB max", AppendUnsub(nil, b("7"), 10), "UNSUB 7 10\r\n"},
		{"INFO", AppendInfo(nil, b(`{"proto":1}`)), "INFO {\"proto\":1} \r\n"},
		{"CONNECT", AppendConnect(nil, b(`{}`)), "CONNECT {}\r\n"},
		{"PING", AppendPing(nil), "PING\r\n"},
		{"PONG", AppendPong(nil), "PONG\r\n"},
		{"+OK", AppendOK(nil), "+OK\r\n"},
		{"-ERR", AppendErr(nil, ErrTextStaleConnection), "-ERR 'Stale Connection'\r\n"},
		{"status", AppendStatusHeader(nil, StatusNoResponders, ""), "NATS/1.0 503\r\n\r\n"},
		{"status text", AppendStatusHeader(nil, 404, "No Messages"), "NATS/1.0 404 No Messages\r\n\r\n"},
		{"appends", AppendPong(AppendPing([]byte("x"))), "xPING\r\nPONG\r\n"},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// Each encoder grows dst to exactly the op's length, so a buffer sized for
// the op is never reallocated. Checked against every encoder by encoding
// once, then again into a buffer of exactly that capacity.
func TestEncodersSizeExactly(t *testing.T) {
	subj, sid, reply := []byte("foo.bar"), []byte("123"), []byte("_INBOX.x")
	data := make([]byte, 1234)
	for name, enc := range encoders(subj, sid, reply, data) {
		want := enc(nil)
		dst := make([]byte, 0, len(want))
		if got := enc(dst); &got[:1][0] != &dst[:1][0] || string(got) != string(want) {
			t.Errorf("%s: reallocated a buffer with exactly enough room", name)
		}
	}
}

// encoders wraps every Append function with fixed arguments, for tests that
// treat them alike.
func encoders(subj, sid, reply, data []byte) map[string]func([]byte) []byte {
	return map[string]func([]byte) []byte{
		"MSG":     func(d []byte) []byte { return AppendMsg(d, subj, sid, reply, data) },
		"HMSG":    func(d []byte) []byte { return AppendHMsg(d, subj, sid, reply, 10, data) },
		"PUB":     func(d []byte) []byte { return AppendPub(d, subj, reply, data) },
		"HPUB":    func(d []byte) []byte { return AppendHPub(d, subj, reply, 10, data) },
		"SUB":     func(d []byte) []byte { return AppendSub(d, subj, reply, sid) },
		"UNSUB":   func(d []byte) []byte { return AppendUnsub(d, sid, 12345) },
		"INFO":    func(d []byte) []byte { return AppendInfo(d, data[:100]) },
		"CONNECT": func(d []byte) []byte { return AppendConnect(d, data[:100]) },
		"-ERR":    func(d []byte) []byte { return AppendErr(d, ErrTextAuthViolation) },
		"PING":    AppendPing,
		"PONG":    AppendPong,
		"+OK":     AppendOK,
		"status":  func(d []byte) []byte { return AppendStatusHeader(d, 408, "Request Timeout") },
	}
}

// What the encoders write, the parser of the other side reads back as the
// same op.
func TestEncodeParseRoundTrip(t *testing.T) {
	var in []byte
	in = AppendPub(in, []byte("a"), []byte("r"), []byte("x"))
	in = AppendHPub(in, []byte("b"), nil, 12, []byte("NATS/1.0\r\n\r\ny"))
	in = AppendSub(in, []byte("c"), []byte("q"), []byte("1"))
	in = AppendUnsub(in, []byte("1"), 5)
	in = AppendConnect(in, []byte("{}"))
	in = AppendPing(in)
	want := `PUB subject="a" reply="r" data="x"
HPUB subject="b" hdr="NATS/1.0\r\n\r\n" payload="y"
SUB subject="c" queue="q" sid="1"
UNSUB sid="1" max=5
CONNECT args="{}"
PING`
	if got := parseChunks(NewParser(ServerSide, Limits{}), in); got != want {
		t.Errorf("server side read back\n%s", got)
	}

	in = AppendInfo(in[:0], []byte(`{"a":1}`))
	in = AppendMsg(in, []byte("a"), []byte("1"), []byte("r"), []byte("x"))
	in = AppendHMsg(in, []byte("b"), []byte("2"), nil, 16, AppendStatusHeader(nil, 503, ""))
	in = AppendOK(in)
	in = AppendErr(in, ErrTextMaxPayload)
	in = AppendPong(in)
	want = `INFO args="{\"a\":1}"
MSG subject="a" reply="r" sid="1" data="x"
HMSG subject="b" sid="2" hdr="NATS/1.0 503\r\n\r\n" payload=""
+OK
-ERR args="Maximum Payload Violation"
PONG`
	if got := parseChunks(NewParser(ClientSide, Limits{}), in); got != want {
		t.Errorf("client side read back\n%s", got)
	}
}
