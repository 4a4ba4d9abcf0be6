package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// rawMQTT is a bare TCP connection speaking hand-made MQTT packets, for
// what a library will not send.
type rawMQTT struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (e *mqttEnv) rawDial() *rawMQTT {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.mqttAddr())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &rawMQTT{t: e.t, nc: nc, br: bufio.NewReader(nc)}
}

func (e *mqttEnv) mqttAddr() string {
	return net.JoinHostPort("127.0.0.1", itoa(e.cfg.MQTT.Port))
}

// rawConnect sends CONNECT with the given client id, clean session flag
// and keepalive (seconds).
func (e *mqttEnv) rawConnect(id string, clean bool, keepAlive uint16) *rawMQTT {
	r := e.rawDial()
	r.send(connectPacket(id, clean, keepAlive, nil))
	return r
}

func connectPacket(id string, clean bool, keepAlive uint16, will []byte) []byte {
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	body := append(mqttString("MQTT"), 4)
	if will != nil {
		flags |= 0x04
	}
	body = append(body, flags, byte(keepAlive>>8), byte(keepAlive))
	body = append(body, mqttString(id)...)
	body = append(body, will...)
	return packet(0x10, body)
}

func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// packet frames body with a first byte and a remaining length.
func packet(first byte, body []byte) []byte {
	b := []byte{first}
	n := len(body)
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	return append(b, body...)
}

func (r *rawMQTT) send(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// readPacket reads one packet: first byte and body.
func (r *rawMQTT) readPacket() (byte, []byte, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	first, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r.br, body)
	return first, body, err
}

func (r *rawMQTT) connack() (present bool, code byte) {
	r.t.Helper()
	first, body, err := r.readPacket()
	if err != nil || first != 0x20 || len(body) != 2 {
		r.t.Fatalf("want CONNACK, got %#x %v %v", first, body, err)
	}
	return body[0] == 1, body[1]
}

func (r *rawMQTT) disconnect() {
	r.send([]byte{0xe0, 0})
	r.waitClosed()
}

// waitClosed waits for the server to close the connection.
func (r *rawMQTT) waitClosed() {
	r.t.Helper()
	for {
		_, _, err := r.readPacket()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatal("connection still open")
		}
		return
	}
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
