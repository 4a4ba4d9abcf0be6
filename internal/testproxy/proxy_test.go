package testproxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestHeldOneWay: a link held in one direction carries the other, and
// delivers what it held once released.
func TestHeldOneWay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hi"))
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err == nil {
			got <- b
		}
	}()
	p := New(t, ln.Addr().String())
	p.SetHeld(true, false)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hi" {
		t.Fatalf("the direction not held: %q %v", b, err)
	}
	select {
	case b := <-got:
		t.Fatalf("the held direction delivered %q", b)
	case <-time.After(200 * time.Millisecond):
	}
	p.SetHeld(false, false)
	select {
	case b := <-got:
		if string(b) != "ping" {
			t.Fatalf("released %q", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nothing delivered after release")
	}
}
