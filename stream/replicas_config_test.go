package stream

import (
	"encoding/json"
	"strings"
	"testing"
)

// Without a cluster, num_replicas > 1 is refused on create and on update
// with nats-server's 10074, and more than 5 is refused as invalid.
func TestReplicasRefusedWithoutCluster(t *testing.T) {
	h := newHarness(t)
	route := func(api, body string) string {
		b, _ := json.Marshal(h.svc.route(api, []byte(body)))
		return string(b)
	}
	if r := route("STREAM.CREATE.R", `{"name":"R","subjects":["r"],"num_replicas":3}`); !strings.Contains(r, `"err_code":10074`) {
		t.Fatalf("create R3: %s", r)
	}
	if r := route("STREAM.CREATE.R", `{"name":"R","subjects":["r"],"num_replicas":7}`); !strings.Contains(r, `"err_code":10052`) {
		t.Fatalf("create R7: %s", r)
	}
	h.create(Config{Name: "R", Subjects: []string{"r"}})
	if r := route("STREAM.UPDATE.R", `{"name":"R","subjects":["r"],"num_replicas":3}`); !strings.Contains(r, `"err_code":10074`) {
		t.Fatalf("update to R3: %s", r)
	}
	if r := route("CONSUMER.CREATE.R.C", `{"stream_name":"R","config":{"name":"C","num_replicas":3}}`); !strings.Contains(r, `"err_code":10074`) {
		t.Fatalf("R3 consumer: %s", r)
	}
}
