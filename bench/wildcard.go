package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// wildcardFanout is how many distinct last tokens each wildcard
// subscription sees, so the scenario publishes to WildcardSubs x
// wildcardFanout distinct subjects: enough to defeat a small match cache.
const wildcardFanout = 16

// runWildcard: one connection holds WildcardSubs subscriptions
// "P.wc.<i>.*"; one publisher cycles through the subjects "P.wc.<i>.<k>".
// Every message matches exactly one subscription, so each must receive
// exactly its share.
func runWildcard(_ context.Context, e *Env) error {
	e.Res.Pubs, e.Res.Subs = 1, 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	sc, err := e.connect("wildcard-sub", &conns)
	if err != nil {
		return err
	}
	counts := make([]atomic.Int64, WildcardSubs)
	var total atomic.Int64
	var last lastSeen
	for i := range WildcardSubs {
		sub, err := sc.Subscribe(e.Prefix+".wc."+strconv.Itoa(i)+".*", func(*nats.Msg) {
			counts[i].Add(1)
			total.Add(1)
			last.mark()
		})
		if err != nil {
			return err
		}
		if err := unlimited(sub); err != nil {
			return err
		}
	}
	if err := sc.Flush(); err != nil {
		return err
	}
	subjects := make([]string, WildcardSubs*wildcardFanout)
	for s := range subjects {
		subjects[s] = e.Prefix + ".wc." + strconv.Itoa(s%WildcardSubs) + ".t" + strconv.Itoa(s/WildcardSubs)
	}
	pub, err := e.connect("pub", &conns)
	if err != nil {
		return err
	}
	e.begin(int64(e.Cfg.Msgs))
	sent, perr := e.publishLoop(pub, e.Cfg.Msgs, e.Cfg.Size, func(i int) string { return subjects[i%len(subjects)] })
	waitFor(time.Now().Add(e.grace()), func() bool { return total.Load() >= sent })
	e.end(last.time())
	time.Sleep(20 * time.Millisecond) // let a late extra delivery show
	e.Res.Msgs = sent
	e.capped(sent, int64(e.Cfg.Msgs))
	if perr != nil {
		return perr
	}
	var errs []error
	if got := total.Load(); got != sent {
		errs = append(errs, fmt.Errorf("received %d of %d messages", got, sent))
	}
	wrong := 0
	for i := range counts {
		want := sent / WildcardSubs
		if int64(i) < sent%WildcardSubs {
			want++
		}
		if got := counts[i].Load(); got != want {
			if wrong < 3 {
				errs = append(errs, fmt.Errorf("subscription %d received %d messages, want %d", i, got, want))
			}
			wrong++
		}
	}
	if wrong > 3 {
		errs = append(errs, fmt.Errorf("... %d subscriptions in all received the wrong count", wrong))
	}
	return errors.Join(append(errs, e.clientErr())...)
}
