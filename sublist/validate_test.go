package sublist

import "testing"

func TestValidSubscribeSubject(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    bool
	}{
		{"foo", true},
		{"foo.bar.baz", true},
		{"*", true},
		{">", true},
		{"foo.*", true},
		{"*.bar", true},
		{"foo.*.baz.>", true},
		{"foo.>", true},
		{"foo*", true},   // literal token, as in nats-server
		{"foo.>b", true}, // literal token
		{"a.*b.c", true},
		{"foo.>.bar", false},
		{">.bar", false},
		{"", false},
		{".", false},
		{"foo.", false},
		{".foo", false},
		{"foo..bar", false},
		{"foo bar", false},
		{"foo.\tbar", false},
		{"foo.bar\r", false},
		{"foo\n", false},
		{"foo.\f", false},
		{" ", false},
		{"日本.語", true},
	} {
		if got := ValidSubscribeSubject(tc.subject); got != tc.want {
			t.Errorf("ValidSubscribeSubject(%q) = %v, want %v", tc.subject, got, tc.want)
		}
	}
}

func TestValidPublishSubject(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    bool
	}{
		{"foo", true},
		{"foo.bar", true},
		{"foo*", true},
		{"foo.b>r", true},
		{"_INBOX.abc.123", true},
		{"*", false},
		{">", false},
		{"foo.*", false},
		{"foo.>", false},
		{"*.foo", false},
		{"", false},
		{"foo.", false},
		{"foo..bar", false},
		{"foo bar", false},
		{"foo\t", false},
	} {
		if got := ValidPublishSubject([]byte(tc.subject)); got != tc.want {
			t.Errorf("ValidPublishSubject(%q) = %v, want %v", tc.subject, got, tc.want)
		}
	}
}

func TestValidQueueName(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"workers", true},
		{"a.b", true},
		{"q*", true},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\r\n", false},
	} {
		if got := ValidQueueName(tc.q); got != tc.want {
			t.Errorf("ValidQueueName(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestValidPublishSubjectNoAlloc(t *testing.T) {
	b := []byte("orders.eu.created")
	if n := testing.AllocsPerRun(100, func() { ValidPublishSubject(b) }); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}
