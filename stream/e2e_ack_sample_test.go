package stream_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestAckSampleMetric: a consumer with sample_freq 100% reports every ack
// on $JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer> with nats-server's
// fields; one without sample_freq reports none.
func TestAckSampleMetric(t *testing.T) {
	n := startNode(t, t.TempDir())
	s, err := n.js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := n.js.Publish(ctx(t), "m.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := n.nc.SubscribeSync("$JS.EVENT.METRIC.CONSUMER.ACK.M.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, freq string
	}{{"PLAIN", ""}, {"SAMPLED", "100%"}} {
		cons, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{Durable: c.name,
			AckPolicy: jetstream.AckExplicitPolicy, SampleFrequency: c.freq})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := cons.Info(ctx(t))
		if info.Config.SampleFrequency != c.freq {
			t.Fatalf("%s: sample_freq %q, want %q", c.name, info.Config.SampleFrequency, c.freq)
		}
		batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 1; i <= 3; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("metric %d: %v", i, err)
		}
		if m.Subject != "$JS.EVENT.METRIC.CONSUMER.ACK.M.SAMPLED" {
			t.Fatalf("metric on %s: only the sampling consumer reports", m.Subject)
		}
		var a struct {
			Type        string    `json:"type"`
			ID          string    `json:"id"`
			Time        time.Time `json:"timestamp"`
			Stream      string    `json:"stream"`
			Consumer    string    `json:"consumer"`
			ConsumerSeq uint64    `json:"consumer_seq"`
			StreamSeq   uint64    `json:"stream_seq"`
			Delay       int64     `json:"ack_time"`
			Deliveries  uint64    `json:"deliveries"`
		}
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Type != "io.nats.jetstream.metric.v1.consumer_ack" || a.ID == "" || a.Time.IsZero() || a.Stream != "M" ||
			a.Consumer != "SAMPLED" || a.StreamSeq != uint64(i) || a.ConsumerSeq != uint64(i) || a.Deliveries != 1 || a.Delay < 0 {
			t.Fatalf("metric %d: %s", i, m.Data)
		}
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("unexpected metric %s: %s", m.Subject, m.Data)
	}
}
