package conf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wisp-mq/wisp/subjectmap"
)

func TestMappingsFromFile(t *testing.T) {
	c, err := LoadFile("m.conf", []byte(`
[mappings]
"orders.*" = "orders.{{wildcard(1)}}.v2"
"orders.>" = "all.>"
"svc" = [
  { destination = "svc.v1", weight = 90 },
  { dest = "svc.v2", weight = "10%" },
]

[accounts.A]
[accounts.A.mappings]
"in" = { destination = "a.in", weight = 100, cluster = "east" }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []subjectmap.Mapping{
		{Source: "orders.*", Destinations: []subjectmap.Destination{{Subject: "orders.{{wildcard(1)}}.v2", Weight: 100}}},
		{Source: "orders.>", Destinations: []subjectmap.Destination{{Subject: "all.>", Weight: 100}}},
		{Source: "svc", Destinations: []subjectmap.Destination{{Subject: "svc.v1", Weight: 90}, {Subject: "svc.v2", Weight: 10}}},
	}
	if !reflect.DeepEqual(c.Server.Mappings, want) {
		t.Errorf("mappings (in file order) = %+v\nwant %+v", c.Server.Mappings, want)
	}
	acc := c.Server.Accounts[0].Mappings
	if len(acc) != 1 || acc[0].Destinations[0] != (subjectmap.Destination{Subject: "a.in", Weight: 100, Cluster: "east"}) {
		t.Errorf("account mappings = %+v", acc)
	}
}

func TestMappingsRefusedWithTheirLine(t *testing.T) {
	cases := []struct{ text, want string }{
		{"[mappings]\n\"a.*\" = \"b.{{wildcard(2)}}\"\n", `m.conf:2: mappings: mapping "a.*": invalid subject mapping: "{{wildcard(2)}}": wildcard 2 out of range`},
		{"[mappings]\n\"a\" = [{ destination = \"b\" }]\n", `m.conf:2: mappings.a: destination 1: missing weight for destination "b"`},
		{"[mappings]\n\"a\" = [{ destination = \"b\", weight = 101 }]\n", "weight: 101 is outside 0 to 100"},
		{"[mappings]\n\"a\" = [{ destination = \"b\", weight = 60 }, { destination = \"c\", weight = 60 }]\n", "m.conf:2: mappings: invalid subject mapping: \"a\": weights add up to 120, more than 100"},
		{"[mappings]\n\"a\" = [{ destination = \"b\", weight = 10, colour = \"red\" }]\n", `unknown key "colour"`},
		{"[mappings]\n\"a\" = 5\n", "expected a destination subject, a table or a list of tables, got an integer"},
		{"[accounts.A.mappings]\n\"a..b\" = \"c\"\n", `m.conf:2: accounts.A.mappings: invalid subject mapping: "a..b": empty token`},
	}
	for _, c := range cases {
		_, err := LoadFile("m.conf", []byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.text, err, c.want)
		}
	}
}
