package protocol

import (
	"testing"
)

// The parse benchmarks feed one buffer of many pipelined ops per iteration,
// as a busy connection's reads look; ns/op is per buffer, ns/msg per op, and
// MB/s counts wire bytes. Run with -benchmem: allocs/op must stay 0.

const benchBuf = 64 << 10 // a typical large socket read

// fill repeats op until the buffer is about benchBuf long.
func fill(op []byte) (in []byte, n int) {
	for len(in)+len(op) <= benchBuf {
		in = append(in, op...)
		n++
	}
	return in, n
}

func benchParse(b *testing.B, side Side, op []byte, read int) {
	in, n := fill(op)
	p := NewParser(side, Limits{})
	var h countOps
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(in); off += read {
			if err := p.Parse(in[off:min(off+read, len(in))], &h); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}

func BenchmarkParsePub16(b *testing.B) {
	benchParse(b, ServerSide, AppendPub(nil, []byte("orders.eu.new"), nil, make([]byte, 16)), benchBuf)
}

func BenchmarkParsePub16Reply(b *testing.B) {
	benchParse(b, ServerSide, AppendPub(nil, []byte("orders.eu.new"), []byte("_INBOX.4Fq7rPAbXz1.9"), make([]byte, 16)), benchBuf)
}

func BenchmarkParsePub1K(b *testing.B) {
	benchParse(b, ServerSide, AppendPub(nil, []byte("orders.eu.new"), nil, make([]byte, 1024)), benchBuf)
}

// Reads of 4 KiB cut many 1 KiB messages in two, so this measures the
// scratch-copy path against BenchmarkParsePub1K.
func BenchmarkParsePub1KSplit4K(b *testing.B) {
	benchParse(b, ServerSide, AppendPub(nil, []byte("orders.eu.new"), nil, make([]byte, 1024)), 4096)
}

func BenchmarkParseHPub(b *testing.B) {
	data := append([]byte("NATS/1.0\r\nNats-Msg-Id: 1234567\r\n\r\n"), make([]byte, 16)...)
	benchParse(b, ServerSide, AppendHPub(nil, []byte("orders.eu.new"), nil, 35, data), benchBuf)
}

func BenchmarkParseSub(b *testing.B) {
	benchParse(b, ServerSide, AppendSub(nil, []byte("orders.*.new"), []byte("workers"), []byte("12345")), benchBuf)
}

func BenchmarkParseMsg16(b *testing.B) {
	benchParse(b, ClientSide, AppendMsg(nil, []byte("orders.eu.new"), []byte("12345"), nil, make([]byte, 16)), benchBuf)
}

func benchEncode(b *testing.B, enc func([]byte) []byte) {
	dst := make([]byte, 0, 4096)
	b.SetBytes(int64(len(enc(nil))))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = enc(dst[:0])
	}
}

func BenchmarkAppendMsg16(b *testing.B) {
	subj, sid, data := []byte("orders.eu.new"), []byte("12345"), make([]byte, 16)
	benchEncode(b, func(d []byte) []byte { return AppendMsg(d, subj, sid, nil, data) })
}

func BenchmarkAppendMsg1K(b *testing.B) {
	subj, sid, data := []byte("orders.eu.new"), []byte("12345"), make([]byte, 1024)
	benchEncode(b, func(d []byte) []byte { return AppendMsg(d, subj, sid, nil, data) })
}

func BenchmarkAppendHMsg(b *testing.B) {
	subj, sid, reply := []byte("orders.eu.new"), []byte("12345"), []byte("_INBOX.4Fq7rPAbXz1.9")
	data := append([]byte("NATS/1.0\r\nNats-Msg-Id: 1234567\r\n\r\n"), make([]byte, 16)...)
	benchEncode(b, func(d []byte) []byte { return AppendHMsg(d, subj, sid, reply, 35, data) })
}
