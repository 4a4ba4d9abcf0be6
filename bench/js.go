package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream scenarios use nats.go's jetstream package, as applications
// do. Each run creates its own file-storage stream, named after the run's
// subject prefix, and deletes it at the end, so runs against a shared
// --server do not see each other's messages.

// asyncWindow is the number of unacknowledged async publishes in flight.
const asyncWindow = 256

// jsSetup connects, checks the server advertises streams, and creates the
// run's stream on "<prefix>.js.>". cleanup deletes the stream and closes
// the connection.
func (e *Env) jsSetup(conns *[]*nats.Conn, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, string, error) {
	nc, err := e.connect("js", conns)
	if err != nil {
		return nil, "", err
	}
	if on, _ := nc.ConnectedServerJetStream(); !on {
		return nil, "", ErrNoStreams
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		return nil, "", err
	}
	name := "BENCH_" + strings.TrimPrefix(e.Prefix, "bench.")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A server advertises jetstream as soon as it listens, and may answer
	// on the API a moment later: wait for the API before timing anything.
	if !waitFor(time.Now().Add(5*time.Second), func() bool {
		_, err = js.AccountInfo(ctx)
		return !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled)
	}) {
		return nil, "", fmt.Errorf("the stream API ($JS.API) does not answer: %w", err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{e.Prefix + ".js.>"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return nil, "", fmt.Errorf("creating stream %s: %w", name, err)
	}
	return js, name, nil
}

func jsCleanup(js jetstream.JetStream, name string) {
	if js == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, name)
}

// runJSPub publishes one message at a time, waiting for each PubAck; the
// acks must name the stream and count 1, 2, 3, ...
func runJSPub(_ context.Context, e *Env) error {
	e.Res.Pubs = 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	js, name, err := e.jsSetup(&conns)
	if err != nil {
		return err
	}
	defer jsCleanup(js, name)
	buf := make([]byte, e.Cfg.Size)
	subject := e.Prefix + ".js.pub"
	var acked int64
	var perr error
	e.begin(int64(e.Cfg.Msgs))
	for i := 0; i < e.Cfg.Msgs; i++ {
		if i&15 == 0 && e.expired() {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(5*time.Second, e.grace()))
		ack, err := js.Publish(ctx, subject, payload(buf, uint64(i+1)))
		cancel()
		if err != nil {
			perr = fmt.Errorf("publish %d: %w", i+1, err)
			break
		}
		if ack.Stream != name || ack.Sequence != uint64(i+1) {
			perr = fmt.Errorf("publish %d: ack for stream %q sequence %d, want %q sequence %d",
				i+1, ack.Stream, ack.Sequence, name, i+1)
			break
		}
		acked++
		e.prog.add(1)
	}
	e.end(time.Time{})
	e.Res.Msgs = acked
	e.capped(acked, int64(e.Cfg.Msgs))
	return errors.Join(perr, e.clientErr())
}

// runJSPubAsync keeps asyncWindow publishes in flight and waits for every
// ack; each sequence number 1..n must be acknowledged exactly once.
func runJSPubAsync(_ context.Context, e *Env) error {
	e.Res.Pubs = 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	js, name, err := e.jsSetup(&conns, jetstream.WithPublishAsyncMaxPending(2*asyncWindow))
	if err != nil {
		return err
	}
	defer jsCleanup(js, name)
	n, acked, err := e.fillAsync(js, name, e.Prefix+".js.async", 0, true)
	e.Res.Msgs = acked
	e.capped(acked, int64(n))
	return errors.Join(err, e.clientErr())
}

// fillAsync publishes up to Msgs messages with asyncWindow acks in flight
// until the time cap, checking that the acks cover base+1..base+sent
// exactly once (base is the stream's last sequence before the first).
// timed says whether this is the measured part of the run.
func (e *Env) fillAsync(js jetstream.JetStream, stream, subject string, base uint64, timed bool) (want int, acked int64, err error) {
	buf := make([]byte, e.Cfg.Size)
	once := newExactlyOnce(e.Cfg.Msgs)
	window := make([]jetstream.PubAckFuture, 0, asyncWindow)
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case ack := <-f.Ok():
			if ack.Stream != stream {
				return fmt.Errorf("ack names stream %q, want %q", ack.Stream, stream)
			}
			once.add(ack.Sequence - base)
			acked++
			if timed {
				e.prog.add(1)
			}
			return nil
		case err := <-f.Err():
			return err
		case <-time.After(min(5*time.Second, e.grace())):
			return errors.New("no ack within the timeout")
		}
	}
	if timed {
		e.begin(int64(e.Cfg.Msgs))
	}
	var sent int64
	for i := 0; i < e.Cfg.Msgs && err == nil; i++ {
		if i&63 == 0 && e.expired() {
			break
		}
		if len(window) == asyncWindow {
			err = wait(window[0])
			window = append(window[:0], window[1:]...)
		}
		f, perr := js.PublishAsync(subject, payload(buf, uint64(i+1)))
		if perr != nil {
			err = fmt.Errorf("publish %d: %w", i+1, perr)
			break
		}
		window = append(window, f)
		sent++
	}
	for _, f := range window {
		if err != nil {
			break
		}
		err = wait(f)
	}
	if timed {
		e.end(time.Time{})
	}
	if err != nil {
		return int(sent), acked, fmt.Errorf("after %d acks: %w", acked, err)
	}
	return e.Cfg.Msgs, acked, once.check(sent)
}

// runJSConsume fills the stream (not timed), then reads it back through a
// durable pull consumer with explicit acks. Every stream sequence must be
// delivered once, and the consumer's state must then show every message
// acknowledged: nothing pending, nothing awaiting an ack.
func runJSConsume(_ context.Context, e *Env) error {
	e.Res.Subs = 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	js, name, err := e.jsSetup(&conns, jetstream.WithPublishAsyncMaxPending(2*asyncWindow))
	if err != nil {
		return err
	}
	defer jsCleanup(js, name)
	_, filled, err := e.fillAsync(js, name, e.Prefix+".js.consume", 0, false)
	if err != nil {
		return fmt.Errorf("filling the stream: %w", err)
	}
	// The fill used part of the time cap; the read gets a cap of its own.
	e.Deadline = time.Now().Add(e.Cfg.Duration)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable:       "bench",
		AckPolicy:     jetstream.AckExplicitPolicy,
		MaxAckPending: 10_000,
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 {
			return fmt.Errorf("creating a durable pull consumer (does this server implement consumers yet?): %w", err)
		}
		return fmt.Errorf("creating a durable pull consumer: %w", err)
	}
	got, err := e.consumeAll(cons, 0, filled)
	e.Res.Msgs = got
	e.capped(got, filled)
	return errors.Join(err, e.clientErr())
}

// consumeAll reads filled messages, stream sequences base+1..base+filled,
// through cons and acks each (the timed part), then checks each came once
// and the consumer shows them all acknowledged.
func (e *Env) consumeAll(cons jetstream.Consumer, base uint64, filled int64) (int64, error) {
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return 0, fmt.Errorf("pulling: %w", err)
	}
	defer it.Stop()
	once := newExactlyOnce(int(filled))
	rctx, rcancel := context.WithDeadline(context.Background(), e.Deadline)
	defer rcancel()
	var got int64
	var rerr error
	e.begin(filled)
	for got < filled {
		msg, err := it.Next(jetstream.NextContext(rctx))
		if err != nil {
			if rctx.Err() == nil {
				rerr = fmt.Errorf("after %d messages: %w", got, err)
			}
			break
		}
		md, err := msg.Metadata()
		if err != nil {
			rerr = fmt.Errorf("message metadata: %w", err)
			break
		}
		once.add(md.Sequence.Stream - base)
		if err := msg.Ack(); err != nil {
			rerr = fmt.Errorf("ack: %w", err)
			break
		}
		got++
		e.prog.add(1)
	}
	e.end(time.Time{})
	if rerr != nil {
		return got, rerr
	}
	return got, errors.Join(once.check(got), e.checkAcked(cons, base+uint64(got)))
}

// checkAcked waits for the consumer's state to show every delivered
// message acknowledged: acks are fire-and-forget, so the server may still
// be processing the last few.
func (e *Env) checkAcked(cons jetstream.Consumer, delivered uint64) error {
	limit := time.Now().Add(e.grace())
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("consumer info: %w", err)
		}
		if info.NumAckPending == 0 && info.AckFloor.Stream >= delivered {
			return nil
		}
		if time.Now().After(limit) {
			return fmt.Errorf("acks not all received: %d awaiting ack, ack floor %d of %d",
				info.NumAckPending, info.AckFloor.Stream, delivered)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
