package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nuid"
)

// jsClient makes requests to the stream layer's API subjects in one
// account, as a client would: one inbox subscription, and a handler for
// each outstanding request, keyed by its reply token.
type jsClient struct {
	b       Broker
	prefix  string // "$MQTT.JSA.<nuid>."; a request's reply is prefix+token
	timeout time.Duration
	cancel  func()

	mu      sync.Mutex
	next    uint64
	waiting map[string]func(reply []byte) // reply is valid only during the call
}

func newJSClient(b Broker, timeout time.Duration) (*jsClient, error) {
	j := &jsClient{b: b, prefix: "$MQTT.JSA." + nuid.Next() + ".", timeout: timeout, waiting: map[string]func([]byte){}}
	cancel, err := b.Subscribe(j.prefix+"*", "", j.onReply)
	if err != nil {
		return nil, fmt.Errorf("mqtt: subscribing to API replies: %w", err)
	}
	j.cancel = cancel
	return j, nil
}

func (j *jsClient) close() { j.cancel() }

func (j *jsClient) onReply(subject, _, _, data []byte) {
	token := string(subject[len(j.prefix):])
	j.mu.Lock()
	fn := j.waiting[token]
	delete(j.waiting, token)
	j.mu.Unlock()
	if fn != nil {
		fn(data)
	}
}

// expect registers fn for the reply to a new request and returns the
// request's reply subject token.
func (j *jsClient) expect(fn func([]byte)) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	token := strconv.FormatUint(j.next, 36)
	j.waiting[token] = fn
	return token
}

// take removes the handler of token; false if the reply came first.
func (j *jsClient) take(token string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.waiting[token]
	delete(j.waiting, token)
	return ok
}

// ErrNoStreams is returned when the stream layer does not answer: MQTT
// needs it for sessions, QoS 1 and retained messages.
var ErrNoStreams = errors.New("mqtt: the stream layer did not answer")

// request publishes to subject and waits for the reply.
func (j *jsClient) request(subject string, hdr, body []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	token := j.expect(func(r []byte) { ch <- append([]byte(nil), r...) })
	if err := j.b.Publish(subject, j.prefix+token, hdr, body); err != nil {
		j.take(token)
		return nil, fmt.Errorf("mqtt: request %s: %w", subject, err)
	}
	t := time.NewTimer(j.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-t.C:
		if !j.take(token) {
			return <-ch, nil // the reply came just now
		}
		return nil, fmt.Errorf("%w: %s (timeout %v)", ErrNoStreams, subject, j.timeout)
	}
}

// storeAsync publishes a message to a stream subject and calls done with
// the outcome of its store, on whichever goroutine learns it (the stream
// layer's, or a timer's): done must be quick and must not block.
func (j *jsClient) storeAsync(subject string, hdr, data []byte, done func(error)) {
	var timer *time.Timer
	token := j.expect(func(r []byte) {
		timer.Stop()
		done(ackError(subject, r))
	})
	// Created before the publish: the reply may come during it.
	timer = time.AfterFunc(j.timeout, func() {
		if j.take(token) {
			done(fmt.Errorf("%w: %s (timeout %v)", ErrNoStreams, subject, j.timeout))
		}
	})
	if err := j.b.Publish(subject, j.prefix+token, hdr, data); err != nil && j.take(token) {
		timer.Stop()
		done(fmt.Errorf("mqtt: storing on %s: %w", subject, err))
	}
}

// ackError reads a publish acknowledgement: nil for a stored message.
func ackError(subject string, reply []byte) error {
	if !bytes.Contains(reply, []byte(`"error"`)) {
		return nil
	}
	var ack struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(reply, &ack); err != nil {
		return fmt.Errorf("mqtt: ack for %s: %w", subject, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("mqtt: storing on %s: %w", subject, ack.Error)
	}
	return nil
}

// apiError is the error member of a stream layer API reply.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%d, err_code %d)", e.Description, e.Code, e.ErrCode)
}

// Stream layer error codes the MQTT layer tests for.
const (
	errCodeStreamNameInUse   = 10058
	errCodeNoMessage         = 10037
	errCodeConsumerExists    = 10148
	errCodeConsumerNameInUse = 10013
	errCodeNoConsumer        = 10014
)

// call makes a JSON request and decodes the reply into out (may be nil).
func (j *jsClient) call(subject string, req, out any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fmt.Errorf("mqtt: encoding %s: %w", subject, err)
		}
	}
	raw, err := j.request(subject, nil, body)
	if err != nil {
		return err
	}
	var env struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("mqtt: reply to %s: %w", subject, err)
	}
	if env.Error != nil {
		return env.Error
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("mqtt: reply to %s: %w", subject, err)
		}
	}
	return nil
}

// isAPIError reports whether err is a stream layer error with that code.
func isAPIError(err error, code int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.ErrCode == code
}

// store publishes a message to a stream subject and waits for its ack.
func (j *jsClient) store(subject string, hdr, data []byte) error {
	raw, err := j.request(subject, hdr, data)
	if err != nil {
		return err
	}
	return ackError(subject, raw)
}
