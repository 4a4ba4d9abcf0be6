package stream

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nuid"
)

// Ack sampling: a consumer with sample_freq ("30" or "30%") reports that
// share of its acknowledged messages on
// $JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>, with the time from
// the last delivery to the ack, as nats-server does for explicit-ack
// consumers. A metric is built only while someone listens on its
// subject; it is an observation, never part of the consumer's state.
const (
	metricAckPrefix = "$JS.EVENT.METRIC.CONSUMER.ACK."
	typeAckMetric   = "io.nats.jetstream.metric.v1.consumer_ack"
)

// ackMetric is io.nats.jetstream.metric.v1.consumer_ack.
type ackMetric struct {
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	Time        time.Time `json:"timestamp"`
	Stream      string    `json:"stream"`
	Consumer    string    `json:"consumer"`
	ConsumerSeq uint64    `json:"consumer_seq"`
	StreamSeq   uint64    `json:"stream_seq"`
	Delay       int64     `json:"ack_time"` // nanoseconds from the last delivery to the ack
	Deliveries  uint64    `json:"deliveries"`
}

// parseSampleFreq reads sample_freq: a whole percentage, with or without
// '%'; "" is 0 (no sampling).
func parseSampleFreq(s string) (int, *APIError) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, apiErr(errConsumerInvalidSampling, err)
	}
	if n < 0 {
		return 0, apiErr(errConsumerInvalidSampling, "the percentage is negative")
	}
	return n, nil
}

// sampleAckLocked queues the ack metric for seq when the consumer samples
// and this ack is drawn. Called with mu held, before the ack drops seq
// from the pending set.
func (c *consumer) sampleAckLocked(seq, dseq uint64, now time.Time, out *outbox) {
	if c.cfg.SampleFrequency == "" || c.cfg.AckPolicy != AckExplicit {
		return
	}
	p := c.pending[seq]
	if p == nil {
		return
	}
	freq, _ := parseSampleFreq(c.cfg.SampleFrequency) // checked at create
	if freq <= 0 || freq < 100 && rand.IntN(100) >= freq {
		return
	}
	subject := metricAckPrefix + c.s.name + "." + c.name
	if !c.svc.hasInterest(subject) {
		return
	}
	out.event(subject, &ackMetric{Type: typeAckMetric, ID: nuid.Next(), Time: now.UTC(),
		Stream: c.s.name, Consumer: c.name, ConsumerSeq: dseq, StreamSeq: seq,
		Delay: now.UnixNano() - p.ts, Deliveries: p.count})
}
