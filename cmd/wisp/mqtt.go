package main

import (
	"fmt"
	"log/slog"

	"github.com/wisp-mq/wisp/conf"
	"github.com/wisp-mq/wisp/mqtt"
	"github.com/wisp-mq/wisp/server"
)

// startMQTT starts the MQTT listener of [mqtt]. The stream layer must be
// running: sessions and retained messages live in it.
func startMQTT(cfg *conf.Config, srv *server.Server, log *slog.Logger) (*mqtt.Service, error) {
	m := cfg.MQTT
	o := mqtt.Options{
		Host: m.Host, Port: m.Port,
		AckWait: m.AckWait, MaxAckPending: m.MaxAckPending,
		ConsumerMemoryStorage: m.ConsumerMemoryStorage, ConsumerInactiveThreshold: m.ConsumerInactiveThreshold,
		APITimeout: m.APITimeout, RejectQoS2Publish: m.RejectQoS2Publish,
		DowngradeQoS2Subscribe: m.DowngradeQoS2Subscribe,
		MaxPayload:             cfg.Server.MaxPayload, MaxPending: cfg.Server.MaxPending,
		WriteDeadline: cfg.Server.WriteDeadline, AuthTimeout: cfg.Server.AuthTimeout,
		Log: log,
	}
	if o.Host == "" {
		o.Host = cfg.Server.Host
	}
	if m.TLS != nil {
		tc, err := m.TLS.TLSConfig()
		if err != nil {
			return nil, fmt.Errorf("mqtt.%w", err)
		}
		o.TLS, o.TLSTimeout = tc, m.TLS.Timeout
	}
	svc, err := mqtt.New(o, mqttHost{srv: srv, noAuthUser: m.NoAuthUser})
	if err != nil {
		return nil, err
	}
	if err := svc.Start(); err != nil {
		return nil, err
	}
	return svc, nil
}

// mqttHost is the server as the MQTT layer sees it.
type mqttHost struct {
	srv        *server.Server
	noAuthUser string
}

func (h mqttHost) Login(user, password string) (mqtt.Login, error) {
	var u server.ExternalUser
	var ok bool
	if user == "" && h.noAuthUser != "" {
		u, ok = h.srv.LookupUser(h.noAuthUser)
	} else {
		u, ok = h.srv.CheckUser(user, password)
	}
	if !ok {
		return mqtt.Login{}, mqtt.ErrNotAuthorized
	}
	b, err := h.srv.Account(u.Account)
	if err != nil {
		return mqtt.Login{}, fmt.Errorf("mqtt login: %w", err)
	}
	return mqtt.Login{Account: u.Account, User: u.User, Broker: b, CanPublish: u.CanPublish, CanSubscribe: u.CanSubscribe}, nil
}

func (h mqttHost) Register(account string, info func() mqtt.ClientInfo) (uint64, func(), error) {
	return h.srv.AddExternalConn(account, func() server.ConnSnapshot {
		ci := info()
		cs := server.ConnSnapshot{
			IP: ci.IP, Port: ci.Port, Start: ci.Start, User: ci.User, Account: ci.Account, TLS: ci.TLS,
			InMsgs: ci.InMsgs, InBytes: ci.InBytes, OutMsgs: ci.OutMsgs, OutBytes: ci.OutBytes,
			PendingBytes: ci.Pending, NumSubs: len(ci.Subs), Type: "mqtt", MQTTClient: ci.ClientID,
		}
		for _, s := range ci.Subs {
			cs.Subs = append(cs.Subs, server.SubSnapshot{Subject: s})
		}
		return cs
	})
}
