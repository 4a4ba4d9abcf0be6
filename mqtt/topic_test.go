package mqtt

import (
	"reflect"
	"testing"
)

func TestTopicToSubject(t *testing.T) {
	for _, tc := range []struct{ topic, subject string }{
		{"sensors/cold-1/temp", "sensors.cold-1.temp"},
		{"/sensors/temp", "/.sensors.temp"},
		{"sensors/temp/", "sensors.temp./"},
		{"sensors//temp", "sensors./.temp"},
		{"//sensors/temp", "/./.sensors.temp"},
		{"a///b", "a././.b"},
		{"cold-1.temp", "cold-1//temp"},
		{"spBv1.0/plant1", "spBv1//0.plant1"},
		{"foo", "foo"},
	} {
		got, err := topicToSubject(nil, []byte(tc.topic))
		if err != nil || string(got) != tc.subject {
			t.Errorf("%q: got %q %v, want %q", tc.topic, got, err, tc.subject)
			continue
		}
		if back := topicFromSubject(tc.subject); back != tc.topic {
			t.Errorf("%q back to topic: %q, want %q", tc.subject, back, tc.topic)
		}
		if n := topicLen([]byte(tc.subject)); n != len(tc.topic) {
			t.Errorf("topicLen(%q) = %d, want %d", tc.subject, n, len(tc.topic))
		}
	}
	for _, bad := range []string{"", "a b", "a/+", "a/#", "/"} {
		if got, err := topicToSubject(nil, []byte(bad)); err == nil {
			t.Errorf("%q: got %q, want an error", bad, got)
		}
	}
}

func TestFilterToSubjects(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a.b"}},
		{"a/+", []string{"a.*"}},
		{"+/b/+", []string{"*.b.*"}},
		{"a/#", []string{"a", "a.>"}},
		{"#", []string{">"}},
		{"+", []string{"*"}},
		{"/+/#", []string{"/.*", "/.*.>"}},
		{"a.b/#", []string{"a//b", "a//b.>"}},
	} {
		got, err := filterToSubjects([]byte(tc.filter))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q %v, want %q", tc.filter, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a#", "a/b+", "+a", "a b/#"} {
		if got, err := filterToSubjects([]byte(bad)); err == nil {
			t.Errorf("%q: got %q, want an error", bad, got)
		}
	}
}

// The topic of a delivered message is written straight into the
// outbound buffer, without allocating.
func TestAppendTopicAlloc(t *testing.T) {
	subj := []byte("a./.b//c.d")
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		buf = appendPublishHeader(buf[:0], flagQoS1, subj, 7, 5)
	})
	if n != 0 {
		t.Fatalf("%v allocations per PUBLISH header", n)
	}
}
