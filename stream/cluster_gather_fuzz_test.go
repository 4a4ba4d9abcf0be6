package stream

import "testing"

// FuzzForwarded: what another server sends this one (a request sent on,
// a gathering's question or answer) is bytes from a route: whatever it
// holds, it must never panic.
func FuzzForwarded(f *testing.F) {
	f.Add("1."+heldAnswer, []byte(`{"id":1,"server":"a","streams":[{"name":"S","subjects":["s.>"],"leader":true,"consumers":2,"info":{"config":{"name":"S"}}}],"memory":1,"storage":2}`))
	f.Add("1."+heldAsk, []byte(`{"id":2,"from":"b","stream":"S","infos":true}`))
	f.Add("1."+heldAnswer, []byte(`{"id":1,"streams":null}`))
	f.Add("x.STREAM.INFO.S", []byte(`{}`))
	f.Add("1.STREAM.NAMES", []byte(`{"offset":-1}`))
	f.Add("", []byte(nil))
	svc, err := New(newMemBroker(), withPebble(Options{StoreDir: f.TempDir()}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	svc.route("STREAM.CREATE.S", []byte(`{"name":"S","subjects":["s.>"],"storage":"memory"}`))
	// A gathering waiting for answers, as the one with id 1.
	id, ch := svc.gathers.open(4)
	f.Cleanup(func() { svc.gathers.close(id) })
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		svc.onForwarded(subject, "", data)
		select {
		case <-ch:
		default:
		}
	})
}
