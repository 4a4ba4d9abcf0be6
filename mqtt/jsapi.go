package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nuid"
)

// jsClient makes requests to the stream layer's API subjects in one
// account, as a client would: one inbox subscription, one channel per
// outstanding request.
type jsClient struct {
	b       Broker
	prefix  string // "$MQTT.JSA.<nuid>."; a request's reply is prefix+token
	timeout time.Duration
	cancel  func()

	mu      sync.Mutex
	next    uint64
	waiting map[string]chan []byte
}

func newJSClient(b Broker, timeout time.Duration) (*jsClient, error) {
	j := &jsClient{b: b, prefix: "$MQTT.JSA." + nuid.Next() + ".", timeout: timeout, waiting: map[string]chan []byte{}}
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
	ch := j.waiting[token]
	delete(j.waiting, token)
	j.mu.Unlock()
	if ch != nil {
		ch <- append([]byte(nil), data...)
	}
}

// ErrNoStreams is returned when the stream layer does not answer: MQTT
// needs it for sessions, QoS 1 and retained messages.
var ErrNoStreams = errors.New("mqtt: the stream layer did not answer")

// request publishes to subject and waits for the reply.
func (j *jsClient) request(subject string, hdr, body []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	j.mu.Lock()
	j.next++
	token := strconv.FormatUint(j.next, 36)
	j.waiting[token] = ch
	j.mu.Unlock()
	if err := j.b.Publish(subject, j.prefix+token, hdr, body); err != nil {
		j.forget(token)
		return nil, fmt.Errorf("mqtt: request %s: %w", subject, err)
	}
	t := time.NewTimer(j.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-t.C:
		j.forget(token)
		return nil, fmt.Errorf("%w: %s (timeout %v)", ErrNoStreams, subject, j.timeout)
	}
}

func (j *jsClient) forget(token string) {
	j.mu.Lock()
	delete(j.waiting, token)
	j.mu.Unlock()
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
	var ack struct {
		Error *apiError `json:"error"`
		Seq   uint64    `json:"seq"`
	}
	if err := json.Unmarshal(raw, &ack); err != nil {
		return fmt.Errorf("mqtt: ack for %s: %w", subject, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("mqtt: storing on %s: %w", subject, ack.Error)
	}
	return nil
}
