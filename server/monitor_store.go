package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreReport is one stream store (an account's file or memory store) as
// monitoring shows it: how much it holds, how much room its disk has, and
// whether it accepts writes. The stream layer fills it from its stores'
// health (stream/store/fault.go).
type StoreReport struct {
	Account  string // "" for the global account
	Storage  string // "file" or "memory"
	Used     uint64 // bytes the database takes on its filesystem
	Free     uint64 // bytes free on the disk for the store (0: not watched)
	Total    uint64 // size of the filesystem (0: not watched)
	Headroom uint64 // free space below which writes are refused
	// LowSpace says writes that add data are refused for lack of space.
	LowSpace bool
	// Failed is the I/O error the store is recovering from, or "".
	Failed      string
	FailedSince time.Time
	Reopens     uint64 // recoveries from a failure since start
	Refused     uint64 // writes refused for lack of space or a failure
}

// JetStreamLimits are the configured byte limits (0: none).
type JetStreamLimits struct {
	MaxMemory  int64 `json:"max_memory"`
	MaxStorage int64 `json:"max_storage"`
}

// StoreStatus is a store in /jsz and /varz.
type StoreStatus struct {
	Account     string    `json:"account,omitempty"`
	Storage     string    `json:"storage"`
	Used        uint64    `json:"used_bytes"`
	Free        uint64    `json:"disk_free_bytes,omitempty"`
	Total       uint64    `json:"disk_total_bytes,omitempty"`
	Headroom    uint64    `json:"headroom_bytes,omitempty"`
	Writable    bool      `json:"writable"`
	LowSpace    bool      `json:"low_space,omitempty"`
	Failed      string    `json:"failed,omitempty"`
	FailedSince time.Time `json:"failed_since,omitzero"`
	Reopens     uint64    `json:"reopens,omitempty"`
	Refused     uint64    `json:"refused_writes,omitempty"`
}

func storeStatuses(rep *JetStreamReport) []StoreStatus {
	out := make([]StoreStatus, 0, len(rep.Stores))
	for _, st := range rep.Stores {
		out = append(out, StoreStatus{
			Account: st.Account, Storage: st.Storage, Used: st.Used, Free: st.Free, Total: st.Total,
			Headroom: st.Headroom, Writable: !st.LowSpace && st.Failed == "", LowSpace: st.LowSpace,
			Failed: st.Failed, FailedSince: st.FailedSince, Reopens: st.Reopens, Refused: st.Refused,
		})
	}
	return out
}

// storeTrouble says which stores refuse writes, for /healthz; "" when all
// accept them.
func (rep *JetStreamReport) storeTrouble() string {
	var msgs []string
	for _, st := range rep.Stores {
		name := st.Storage + " store"
		if st.Account != "" {
			name = "account " + st.Account + " " + name
		}
		switch {
		case st.Failed != "":
			msgs = append(msgs, fmt.Sprintf("%s failed, refusing writes: %s", name, st.Failed))
		case st.LowSpace:
			msgs = append(msgs, fmt.Sprintf("%s out of disk space, refusing writes: %d bytes free, headroom %d",
				name, st.Free, st.Headroom))
		}
	}
	if rep.Meta != nil && rep.Meta.LogFault != "" {
		msgs = append(msgs, "raft log failed, this server takes part in no raft group until it is reopened: "+rep.Meta.LogFault)
	}
	if rep.Meta != nil && len(rep.Meta.HaltedGroups) > 0 {
		msgs = append(msgs, "raft groups halted on this server until it restarts: "+strings.Join(rep.Meta.HaltedGroups, "; "))
	}
	return strings.Join(msgs, "; ")
}

var (
	mStoreUsed = prometheus.NewDesc("wisp_jetstream_store_used_bytes",
		"Bytes a stream store's database takes on its filesystem.", []string{"account", "storage"}, nil)
	mStoreFree = prometheus.NewDesc("wisp_jetstream_store_disk_free_bytes",
		"Free bytes on a file store's disk, its reserve counted as used.", []string{"account", "storage"}, nil)
	mStoreHeadroom = prometheus.NewDesc("wisp_jetstream_store_headroom_bytes",
		"Free space below which a file store refuses writes.", []string{"account", "storage"}, nil)
	mStoreWritable = prometheus.NewDesc("wisp_jetstream_store_writable",
		"1 while a stream store accepts writes, 0 while it refuses them (no space, or failed).", []string{"account", "storage"}, nil)
	mStoreRefused = prometheus.NewDesc("wisp_jetstream_store_refused_writes_total",
		"Writes a stream store refused for lack of space or after an I/O error.", []string{"account", "storage"}, nil)
	mJSMaxMemory = prometheus.NewDesc("wisp_jetstream_max_memory_bytes",
		"Configured max_memory_store (0: no limit).", nil, nil)
	mJSMaxStorage = prometheus.NewDesc("wisp_jetstream_max_storage_bytes",
		"Configured max_file_store (0: no limit).", nil, nil)
)

func describeStoreMetrics(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mStoreUsed, mStoreFree, mStoreHeadroom, mStoreWritable, mStoreRefused, mJSMaxMemory, mJSMaxStorage} {
		ch <- d
	}
}

func collectStoreMetrics(rep *JetStreamReport, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(mJSMaxMemory, float64(rep.Limits.MaxMemory))
	gauge(mJSMaxStorage, float64(rep.Limits.MaxStorage))
	for _, st := range rep.Stores {
		if st.Account == "" {
			st.Account = "$G" // the global account, by its nats-server name
		}
		gauge(mStoreUsed, float64(st.Used), st.Account, st.Storage)
		if st.Total > 0 {
			gauge(mStoreFree, float64(st.Free), st.Account, st.Storage)
			gauge(mStoreHeadroom, float64(st.Headroom), st.Account, st.Storage)
		}
		w := 1.0
		if st.LowSpace || st.Failed != "" {
			w = 0
		}
		gauge(mStoreWritable, w, st.Account, st.Storage)
		ch <- prometheus.MustNewConstMetric(mStoreRefused, prometheus.CounterValue, float64(st.Refused), st.Account, st.Storage)
	}
}
