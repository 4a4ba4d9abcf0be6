package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// checkOrigin applies same_origin and allowed_origins to an upgrade
// request, with nats-server's rules: a request without an Origin header
// (not from a browser) passes; otherwise its scheme, host and port must
// be those the client connected to (same_origin) and one of the allowed
// list (when there is one). A nil error lets the request through.
func (w *wsServer) checkOrigin(sameOrigin bool, r *http.Request) error {
	if !sameOrigin && len(w.origins) == 0 {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Sec-WebSocket-Origin")
	}
	if origin == "" {
		return nil
	}
	u, err := url.ParseRequestURI(origin)
	if err != nil {
		return fmt.Errorf("origin %q is not a URL: %w", origin, err)
	}
	oh, op, err := hostAndPort(u.Host, u.Scheme == "https")
	if err != nil {
		return fmt.Errorf("origin %q: %w", origin, err)
	}
	if sameOrigin {
		secure := r.TLS != nil
		rh, rp, err := hostAndPort(r.Host, secure)
		if err != nil {
			return fmt.Errorf("host %q: %w", r.Host, err)
		}
		scheme := "http"
		if secure {
			scheme = "https"
		}
		if oh != rh || op != rp || !strings.EqualFold(u.Scheme, scheme) {
			return errors.New("not same origin")
		}
	}
	if len(w.origins) > 0 {
		for _, ao := range w.origins[oh] {
			if ao.scheme == u.Scheme && ao.port == op {
				return nil
			}
		}
		return errors.New("not in the allowed list")
	}
	return nil
}
