package stream_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every field of nats.go's stream and consumer configs is either honoured
// (the server reports back what was asked, on create and on a later info)
// or refused with an API error. A field that is neither would be stored
// and ignored, which is what these tests exist to catch; a field nats.go
// adds later fails them until it is classified below.

// fieldCase sets one config field (and whatever it needs to be valid) to a
// non-zero value; refused is the err_code the server must answer, 0 when
// it must honour the value.
type fieldCase[C any] struct {
	set     func(c *C)
	refused int
}

func honoured[C any](set func(c *C)) fieldCase[C] { return fieldCase[C]{set: set} }
func refusedWith[C any](code int, set func(c *C)) fieldCase[C] {
	return fieldCase[C]{set: set, refused: code}
}

type sc = jetstream.StreamConfig

// streamFieldCases classifies every field of jetstream.StreamConfig.
var streamFieldCases = map[string][]fieldCase[sc]{
	"Name":                 {honoured(func(c *sc) {})},
	"Description":          {honoured(func(c *sc) { c.Description = "described" })},
	"Subjects":             {honoured(func(c *sc) { c.Subjects = append(c.Subjects, c.Name+"-other") })},
	"Retention":            {honoured(func(c *sc) { c.Retention = jetstream.WorkQueuePolicy }), honoured(func(c *sc) { c.Retention = jetstream.InterestPolicy })},
	"MaxConsumers":         {honoured(func(c *sc) { c.MaxConsumers = 5 })},
	"MaxMsgs":              {honoured(func(c *sc) { c.MaxMsgs = 100 })},
	"MaxBytes":             {honoured(func(c *sc) { c.MaxBytes = 1 << 20 })},
	"Discard":              {honoured(func(c *sc) { c.Discard = jetstream.DiscardNew })},
	"DiscardNewPerSubject": {honoured(func(c *sc) { c.DiscardNewPerSubject, c.Discard, c.MaxMsgsPerSubject = true, jetstream.DiscardNew, 2 })},
	"MaxAge":               {honoured(func(c *sc) { c.MaxAge = time.Hour })},
	"MaxMsgsPerSubject":    {honoured(func(c *sc) { c.MaxMsgsPerSubject = 3 })},
	"MaxMsgSize":           {honoured(func(c *sc) { c.MaxMsgSize = 1024 })},
	"Storage":              {honoured(func(c *sc) { c.Storage = jetstream.MemoryStorage })},
	"Replicas":             {honoured(func(c *sc) { c.Replicas = 1 }), refusedWith(10074, func(c *sc) { c.Replicas = 3 })},
	"NoAck":                {honoured(func(c *sc) { c.NoAck = true })},
	"Duplicates":           {honoured(func(c *sc) { c.Duplicates = time.Minute })},
	"Placement":            {refusedWith(10052, func(c *sc) { c.Placement = &jetstream.Placement{Cluster: "east", Tags: []string{"ssd"}} })},
	"Mirror":               {honoured(func(c *sc) { c.Subjects, c.Mirror = nil, &jetstream.StreamSource{Name: "ORIGIN"} })},
	"Sources":              {honoured(func(c *sc) { c.Sources = []*jetstream.StreamSource{{Name: "ORIGIN"}} })},
	"Sealed":               {refusedWith(10052, func(c *sc) { c.Sealed = true })},
	"DenyDelete":           {honoured(func(c *sc) { c.DenyDelete = true })},
	"DenyPurge":            {honoured(func(c *sc) { c.DenyPurge = true })},
	"AllowRollup":          {honoured(func(c *sc) { c.AllowRollup = true })},
	"Compression":          {refusedWith(10052, func(c *sc) { c.Compression = jetstream.S2Compression })},
	"FirstSeq":             {honoured(func(c *sc) { c.FirstSeq = 100 })},
	"SubjectTransform": {honoured(func(c *sc) {
		c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: c.Subjects[0], Destination: "moved.>"}
	})},
	"RePublish": {honoured(func(c *sc) {
		c.RePublish = &jetstream.RePublish{Source: c.Subjects[0], Destination: "republished.>"}
	})},
	"AllowDirect":  {honoured(func(c *sc) { c.AllowDirect = true })},
	"MirrorDirect": {refusedWith(10052, func(c *sc) { c.MirrorDirect = true })},
	"ConsumerLimits": {honoured(func(c *sc) {
		c.ConsumerLimits = jetstream.StreamConsumerLimits{InactiveThreshold: time.Minute, MaxAckPending: 10}
	})},
	"Metadata": {honoured(func(c *sc) { c.Metadata = map[string]string{"owner": "team-a"} })},
	// Stream templates are gone from nats-server, which refuses the
	// field as unknown JSON; so does Wisp.
	"Template":               {refusedWith(10025, func(c *sc) { c.Template = "TEMPLATE" })},
	"AllowMsgTTL":            {honoured(func(c *sc) { c.AllowMsgTTL = true })},
	"SubjectDeleteMarkerTTL": {honoured(func(c *sc) { c.SubjectDeleteMarkerTTL = time.Minute }), refusedWith(10052, func(c *sc) { c.SubjectDeleteMarkerTTL = 500 * time.Millisecond })},
	"AllowMsgCounter": {honoured(func(c *sc) { c.AllowMsgCounter = true }),
		refusedWith(10052, func(c *sc) { c.AllowMsgCounter, c.Discard = true, jetstream.DiscardNew }),
		refusedWith(10173, func(c *sc) {
			c.Subjects, c.Mirror, c.AllowMsgCounter = nil, &jetstream.StreamSource{Name: "ORIGIN"}, true
		})},
	"AllowAtomicPublish": {honoured(func(c *sc) { c.AllowAtomicPublish = true }),
		refusedWith(10198, func(c *sc) {
			c.Subjects, c.Mirror, c.AllowAtomicPublish = nil, &jetstream.StreamSource{Name: "ORIGIN"}, true
		})},
	"AllowMsgSchedules": {honoured(func(c *sc) { c.AllowMsgSchedules = true }), refusedWith(10052, func(c *sc) { c.AllowMsgSchedules, c.Discard = true, jetstream.DiscardNew })},
	"PersistMode":       {refusedWith(10052, func(c *sc) { c.PersistMode = jetstream.AsyncPersistMode })},
	"AllowBatchPublish": {honoured(func(c *sc) { c.AllowBatchPublish = true }),
		refusedWith(10209, func(c *sc) {
			c.Subjects, c.Mirror, c.AllowBatchPublish = nil, &jetstream.StreamSource{Name: "ORIGIN"}, true
		})},
}

type cc = jetstream.ConsumerConfig

var pauseUntil = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
var startTime = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

// consumerFieldCases classifies every field of jetstream.ConsumerConfig.
// The base config is a pull consumer with explicit acks on a stream with
// subjects CF.a and CF.b.
var consumerFieldCases = map[string][]fieldCase[cc]{
	"Name":               {honoured(func(c *cc) {})},
	"Durable":            {honoured(func(c *cc) { c.Durable = c.Name })},
	"Description":        {honoured(func(c *cc) { c.Description = "described" })},
	"DeliverPolicy":      {honoured(func(c *cc) { c.DeliverPolicy = jetstream.DeliverLastPolicy })},
	"OptStartSeq":        {honoured(func(c *cc) { c.DeliverPolicy, c.OptStartSeq = jetstream.DeliverByStartSequencePolicy, 5 })},
	"OptStartTime":       {honoured(func(c *cc) { c.DeliverPolicy, c.OptStartTime = jetstream.DeliverByStartTimePolicy, &startTime })},
	"AckPolicy":          {honoured(func(c *cc) { c.AckPolicy = jetstream.AckAllPolicy })},
	"AckWait":            {honoured(func(c *cc) { c.AckWait = time.Minute })},
	"MaxDeliver":         {honoured(func(c *cc) { c.MaxDeliver = 5 })},
	"BackOff":            {honoured(func(c *cc) { c.BackOff, c.MaxDeliver = []time.Duration{time.Second, 2 * time.Second}, 5 })},
	"FilterSubject":      {honoured(func(c *cc) { c.FilterSubject = "CF.a" })},
	"ReplayPolicy":       {honoured(func(c *cc) { c.ReplayPolicy = jetstream.ReplayOriginalPolicy })},
	"RateLimit":          {honoured(func(c *cc) { c.DeliverSubject, c.RateLimit = "cf-deliver", 1<<20 })},
	"SampleFrequency":    {honoured(func(c *cc) { c.SampleFrequency = "50%" }), refusedWith(10095, func(c *cc) { c.SampleFrequency = "often" })},
	"MaxWaiting":         {honoured(func(c *cc) { c.MaxWaiting = 10 })},
	"MaxAckPending":      {honoured(func(c *cc) { c.MaxAckPending = 10 })},
	"HeadersOnly":        {honoured(func(c *cc) { c.HeadersOnly = true })},
	"MaxRequestBatch":    {honoured(func(c *cc) { c.MaxRequestBatch = 10 })},
	"MaxRequestExpires":  {honoured(func(c *cc) { c.MaxRequestExpires = 5 * time.Second })},
	"MaxRequestMaxBytes": {honoured(func(c *cc) { c.MaxRequestMaxBytes = 1 << 16 })},
	"InactiveThreshold":  {honoured(func(c *cc) { c.InactiveThreshold = time.Minute })},
	"Replicas":           {honoured(func(c *cc) { c.Replicas = 1 }), refusedWith(10074, func(c *cc) { c.Replicas = 3 })},
	"MemoryStorage":      {honoured(func(c *cc) { c.MemoryStorage = true })},
	"FilterSubjects":     {honoured(func(c *cc) { c.FilterSubjects = []string{"CF.a", "CF.b"} })},
	"Metadata":           {honoured(func(c *cc) { c.Metadata = map[string]string{"owner": "team-a"} })},
	"PauseUntil":         {honoured(func(c *cc) { c.PauseUntil = &pauseUntil })},
	"PriorityPolicy": {honoured(func(c *cc) {
		c.PriorityPolicy, c.PriorityGroups = jetstream.PriorityPolicyOverflow, []string{"jobs"}
	}), honoured(func(c *cc) {
		c.PriorityPolicy, c.PriorityGroups = jetstream.PriorityPolicyPrioritized, []string{"jobs"}
	})},
	"PinnedTTL": {honoured(func(c *cc) {
		c.PriorityPolicy, c.PriorityGroups, c.PinnedTTL = jetstream.PriorityPolicyPinned, []string{"jobs"}, time.Minute
	})},
	"PriorityGroups": {honoured(func(c *cc) {
		c.PriorityPolicy, c.PriorityGroups = jetstream.PriorityPolicyPinned, []string{"jobs"}
	}), refusedWith(10196, func(c *cc) { c.PriorityGroups = []string{"jobs"} })},
	"DeliverSubject": {honoured(func(c *cc) { c.DeliverSubject = "cf-deliver" })},
	"DeliverGroup":   {honoured(func(c *cc) { c.DeliverSubject, c.DeliverGroup = "cf-deliver", "workers" })},
	"FlowControl": {honoured(func(c *cc) {
		c.DeliverSubject, c.FlowControl, c.IdleHeartbeat = "cf-deliver", true, 5*time.Second
	})},
	"IdleHeartbeat": {honoured(func(c *cc) { c.DeliverSubject, c.IdleHeartbeat = "cf-deliver", 5*time.Second })},
}

// rawReply is what the create and info calls answer.
type rawReply[I any] struct {
	Error *struct {
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Info I
}

func (r *rawReply[I]) UnmarshalJSON(b []byte) error {
	var e struct {
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	r.Error = e.Error
	return json.Unmarshal(b, &r.Info)
}

// rawJS sends body (marshalled) to an API subject and decodes the reply.
func rawJS[I any](t *testing.T, n *node, subject string, body any) rawReply[I] {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatalf("%s: marshal: %v", subject, err)
		}
	}
	var r rawReply[I]
	apiCall(t, n, subject, string(b), &r)
	return r
}

// sameField compares a field as sent with the field as the server reports
// it. Times compare as instants; metadata may carry keys the server adds.
func sameField(want, got reflect.Value) bool {
	switch w := want.Interface().(type) {
	case *time.Time:
		g := got.Interface().(*time.Time)
		return g != nil && w.Equal(*g)
	case map[string]string:
		g := got.Interface().(map[string]string)
		for k, v := range w {
			if g[k] != v {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want.Interface(), got.Interface())
}

// checkFieldCases walks the exported fields of C, runs every case of each,
// and reports fields with no case and cases for fields that do not exist.
func checkFieldCases[C any](t *testing.T, table map[string][]fieldCase[C], what string,
	run func(t *testing.T, field string, i int, c fieldCase[C])) {
	typ := reflect.TypeFor[C]()
	seen := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		seen[f.Name] = true
		cases, ok := table[f.Name]
		if !ok {
			t.Errorf("%s.%s is not classified: add it to the field table with a plausible value, "+
				"and make Wisp honour it or refuse it with an API error", what, f.Name)
			continue
		}
		for i, c := range cases {
			t.Run(fmt.Sprintf("%s/%d", f.Name, i), func(t *testing.T) { run(t, f.Name, i, c) })
		}
	}
	for name := range table {
		if !seen[name] {
			t.Errorf("the field table names %s.%s, which does not exist", what, name)
		}
	}
}

func TestE2EStreamConfigFieldsHonouredOrRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	k := 0
	checkFieldCases(t, streamFieldCases, "jetstream.StreamConfig", func(t *testing.T, field string, i int, fc fieldCase[sc]) {
		k++
		name := fmt.Sprintf("F%d", k)
		cfg := sc{Name: name, Subjects: []string{name + ".>"}}
		fc.set(&cfg)
		want := reflect.ValueOf(cfg).FieldByName(field)
		if want.IsZero() {
			t.Fatalf("the case for %s leaves it zero", field)
		}
		r := rawJS[jetstream.StreamInfo](t, n, "STREAM.CREATE."+name, cfg)
		if fc.refused != 0 {
			if r.Error == nil || r.Error.ErrCode != fc.refused {
				t.Fatalf("%s = %v: want refusal %d, got error %+v and config %+v", field, want, fc.refused, r.Error, r.Info.Config)
			}
			return
		}
		if r.Error != nil {
			t.Fatalf("%s = %v: refused %+v, want honoured", field, want, *r.Error)
		}
		if got := reflect.ValueOf(r.Info.Config).FieldByName(field); !sameField(want, got) {
			t.Fatalf("%s: create answered %v, want %v", field, got, want)
		}
		r = rawJS[jetstream.StreamInfo](t, n, "STREAM.INFO."+name, nil)
		if got := reflect.ValueOf(r.Info.Config).FieldByName(field); r.Error != nil || !sameField(want, got) {
			t.Fatalf("%s: info answered %v (error %+v), want %v", field, got, r.Error, want)
		}
	})
}

func TestE2EConsumerConfigFieldsHonouredOrRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	mkStream(t, n, jetstream.StreamConfig{Name: "CF", Subjects: []string{"CF.a", "CF.b"}}, 6)
	k := 0
	checkFieldCases(t, consumerFieldCases, "jetstream.ConsumerConfig", func(t *testing.T, field string, i int, fc fieldCase[cc]) {
		k++
		name := fmt.Sprintf("C%d", k)
		cfg := cc{Name: name, AckPolicy: jetstream.AckExplicitPolicy}
		fc.set(&cfg)
		want := reflect.ValueOf(cfg).FieldByName(field)
		if want.IsZero() {
			t.Fatalf("the case for %s leaves it zero", field)
		}
		req := struct {
			Stream string `json:"stream_name"`
			Config cc     `json:"config"`
		}{"CF", cfg}
		r := rawJS[jetstream.ConsumerInfo](t, n, "CONSUMER.CREATE.CF."+name, req)
		if fc.refused != 0 {
			if r.Error == nil || r.Error.ErrCode != fc.refused {
				t.Fatalf("%s = %v: want refusal %d, got error %+v and config %+v", field, want, fc.refused, r.Error, r.Info.Config)
			}
			return
		}
		if r.Error != nil {
			t.Fatalf("%s = %v: refused %+v, want honoured", field, want, *r.Error)
		}
		if got := reflect.ValueOf(r.Info.Config).FieldByName(field); !sameField(want, got) {
			t.Fatalf("%s: create answered %v, want %v", field, got, want)
		}
		r = rawJS[jetstream.ConsumerInfo](t, n, "CONSUMER.INFO.CF."+name, nil)
		if got := reflect.ValueOf(r.Info.Config).FieldByName(field); r.Error != nil || !sameField(want, got) {
			t.Fatalf("%s: info answered %v (error %+v), want %v", field, got, r.Error, want)
		}
	})
}
