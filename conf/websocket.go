package conf

import (
	"errors"
	"fmt"
	"net"

	"github.com/wisp-mq/wisp/server"
)

// The [websocket] table, with nats-server's keys (off unless port is set):
//
//	[websocket]
//	host = "0.0.0.0"              # or listen = "0.0.0.0:8080"
//	port = 8080
//	advertise = "ws.example.com:443" # given to the cluster's WebSocket clients
//	no_tls = false                # true allows plain ws:// (TLS is required otherwise)
//	same_origin = false           # browsers must come from the host and port they connect to
//	allowed_origins = ["https://app.example.com"]
//	compression = false           # per-message deflate for clients that ask for it
//	handshake_timeout = "2s"      # TLS handshake and upgrade request
//	ping_interval = "30s"         # replaces ping_interval for WebSocket clients
//	[websocket.headers]           # added to every upgrade response
//	Strict-Transport-Security = "max-age=31536000"
//	[websocket.tls]               # as [tls]: cert_file, key_file, ca_file, verify, timeout
//	cert_file = "server.pem"
//	key_file = "server-key.pem"
//
// nats-server's keys for a separate WebSocket login (authorization,
// no_auth_user, jwt_cookie, user_cookie, pass_cookie, token_cookie) are
// refused: WebSocket clients log in as the server's users, exactly as TCP
// clients do.
type fileWebsocket struct {
	Host             *stringValue            `toml:"host"`
	Net              *stringValue            `toml:"net"` // nats-server's other name for host
	Port             *intValue               `toml:"port"`
	Listen           *stringValue            `toml:"listen"`
	NoTLS            *boolValue              `toml:"no_tls"`
	TLS              *fileTLS                `toml:"tls"`
	SameOrigin       *boolValue              `toml:"same_origin"`
	AllowedOrigins   *routeList              `toml:"allowed_origins"`
	Compression      *boolValue              `toml:"compression"`
	Compress         *boolValue              `toml:"compress"` // nats-server's other name
	HandshakeTimeout *durationValue          `toml:"handshake_timeout"`
	PingInterval     *durationValue          `toml:"ping_interval"`
	Headers          map[string]*stringValue `toml:"headers"`

	Advertise      *stringValue   `toml:"advertise"`
	Authorization  *unsupportedWS `toml:"authorization"`
	Authentication *unsupportedWS `toml:"authentication"`
	NoAuthUser     *unsupportedWS `toml:"no_auth_user"`
	JWTCookie      *unsupportedWS `toml:"jwt_cookie"`
	UserCookie     *unsupportedWS `toml:"user_cookie"`
	PassCookie     *unsupportedWS `toml:"pass_cookie"`
	TokenCookie    *unsupportedWS `toml:"token_cookie"`
}

// unsupportedWS is a nats-server [websocket] key that Wisp refuses, with
// the reason, rather than reading it as unknown.
type unsupportedWS struct{}

func (*unsupportedWS) UnmarshalTOML(any) error {
	return errors.New("not supported by Wisp: WebSocket clients authenticate as the server's users, like TCP clients")
}

// applyWebsocket copies the [websocket] table onto o.
func (p *parsedFile) applyWebsocket(o *server.WebsocketOptions) error {
	f := p.cfg.Websocket
	setString(&o.Host, f.Net)
	setString(&o.Host, f.Host)
	setInt(&o.Port, f.Port)
	setString(&o.Advertise, f.Advertise)
	if f.Listen != nil {
		if f.Host != nil || f.Net != nil || f.Port != nil {
			return p.keyError("websocket.listen", errors.New(`set either "listen" or "host"/"port", not both`))
		}
		host, port, err := net.SplitHostPort(string(*f.Listen))
		if err != nil {
			return p.keyError("websocket.listen", fmt.Errorf("expected \"host:port\": %v", err))
		}
		if o.Port, err = parsePort(port); err != nil {
			return p.keyError("websocket.listen", err)
		}
		o.Host = host
	}
	setBool(&o.NoTLS, f.NoTLS)
	if f.TLS != nil {
		o.TLS = f.TLS.options()
	}
	setBool(&o.SameOrigin, f.SameOrigin)
	if f.AllowedOrigins != nil {
		o.AllowedOrigins = append([]string(nil), *f.AllowedOrigins...)
	}
	setBool(&o.Compression, f.Compress)
	setBool(&o.Compression, f.Compression)
	setDuration(&o.HandshakeTimeout, f.HandshakeTimeout)
	setDuration(&o.PingInterval, f.PingInterval)
	if f.Headers != nil {
		o.Headers = make(map[string]string, len(f.Headers))
		for k, v := range f.Headers {
			if v != nil {
				o.Headers[k] = string(*v)
			}
		}
	}
	return nil
}
