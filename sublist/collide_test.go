package sublist

import "testing"

func TestSubjectsCollide(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"a.b", "a.b", true}, {"a.b", "a.c", false}, {"a.*", "a.b", true}, {"a.>", "a.b.c", true},
		{"a.>", "a", false}, {"a.*", "a.b.c", false}, {"*.b", "a.*", true}, {">", "x", true},
	} {
		if got := SubjectsCollide(c.a, c.b); got != c.want {
			t.Errorf("SubjectsCollide(%q, %q) = %v", c.a, c.b, got)
		}
		if got := SubjectsCollide(c.b, c.a); got != c.want {
			t.Errorf("SubjectsCollide(%q, %q) = %v (swapped)", c.b, c.a, got)
		}
	}
}
