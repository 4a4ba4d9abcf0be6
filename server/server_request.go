package server

// Requests between servers for a layer of one account: the stream layer
// sends an API request it cannot answer on to the server that can (the
// meta or a stream's leader), with the client's reply subject, so that
// server answers the client directly. They travel as cluster-internal
// messages (chanRequest), which no client can publish: a request taken
// this way has passed the permissions of the server that sent it on.
const chanRequest = "jsrequest"

// SendToServer sends a request (subject, reply subject, data) to the
// handler the named server's layer of this account set with
// HandleServerRequests. It never blocks; it fails when no route to that
// server is up or the route is busy.
func (b *AccountBroker) SendToServer(server, subject, reply string, data []byte) error {
	return b.s.ClusterSend(server, chanRequest, appendDelivery(nil, b.acc.name, subject, "", reply, nil, data))
}

// HandleServerRequests sets the handler of the requests other servers
// send to this account (nil removes it). It runs on a route's reader
// goroutine and must not block; its slices are valid during the call.
func (b *AccountBroker) HandleServerRequests(fn func(subject, reply string, data []byte)) {
	s := b.s
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	m := make(map[*account]func(subject, reply string, data []byte), len(s.serverRequests)+1)
	for k, v := range s.serverRequests {
		m[k] = v
	}
	if fn == nil {
		delete(m, b.acc)
	} else {
		m[b.acc] = fn
	}
	s.serverRequests = m
}

// onServerRequest hands a request from another server to its account's
// handler.
func (s *Server) onServerRequest(from string, payload []byte) {
	f, data, ok := decodeDelivery(payload)
	if !ok {
		s.log.Warn("dropped a malformed request from a server", "from", from)
		return
	}
	acc := s.global
	if name := string(f[0]); name != "" && name != GlobalAccount {
		if acc = s.lookupAccount(name); acc == nil {
			return
		}
	}
	s.clusterMu.Lock()
	fn := s.serverRequests[acc]
	s.clusterMu.Unlock()
	if fn != nil {
		fn(string(f[1]), string(f[3]), data)
	}
}

// SendToServer is AccountBroker.SendToServer in the global account.
func (s *Server) SendToServer(server, subject, reply string, data []byte) error {
	return (&AccountBroker{s: s, acc: s.global}).SendToServer(server, subject, reply, data)
}

// HandleServerRequests is AccountBroker.HandleServerRequests in the
// global account.
func (s *Server) HandleServerRequests(fn func(subject, reply string, data []byte)) {
	(&AccountBroker{s: s, acc: s.global}).HandleServerRequests(fn)
}
