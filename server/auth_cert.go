package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
)

// Certificate identity: with TLSOptions.VerifyAndMap a client is the user
// its verified certificate names, as with nats-server's verify_and_map.
// The certificate is compared with the user names in this order, and the
// first user found wins:
//
//  1. each email address in its subject alternative names;
//  2. each DNS name in them;
//  3. each URI in them;
//  4. its subject as a distinguished name: a user name that parses as one
//     (RFC 4514, "CN=alice,OU=eng,O=Acme") matches when it has the same
//     RDNs in the same order, most specific first; attribute types match
//     in any case, values exactly. Then, in a second pass, the same RDNs
//     in any order. Subjects with attributes other than those in
//     certAttrNames are left to step 5;
//  5. its subject as pkix.Name.ToRDNSequence writes it (RFC 2253 order,
//     only the attributes Go parses), first with the domain components
//     appended when it has any, then as it is.
//
// A CN on its own never names a user (nats-server does not do that
// either): any certificate from the CA could carry any CN.

// attrValue is one attribute of an RDN: "CN" and "alice".
type attrValue struct{ typ, value string }

// distName is a distinguished name, its RDNs most specific first (the
// order it is written in); an RDN is a set of attributes, usually one.
type distName [][]attrValue

// equal reports whether d and o have equal RDNs in the same order.
func (d distName) equal(o distName) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if !rdnEqual(d[i], o[i]) {
			return false
		}
	}
	return true
}

// sameRDNs reports whether d and o have equal RDNs in any order, each used
// once.
func (d distName) sameRDNs(o distName) bool {
	if len(d) != len(o) {
		return false
	}
	used := make([]bool, len(o))
next:
	for _, r := range d {
		for j, q := range o {
			if !used[j] && rdnEqual(r, q) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// rdnEqual compares two RDNs as sets: attribute types in any case, values
// exactly.
func rdnEqual(a, b []attrValue) bool {
	if len(a) != len(b) {
		return false
	}
	has := func(set []attrValue, x attrValue) bool {
		for _, y := range set {
			if strings.EqualFold(x.typ, y.typ) && x.value == y.value {
				return true
			}
		}
		return false
	}
	for _, x := range a {
		if !has(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !has(a, x) {
			return false
		}
	}
	return true
}

// dnSpecial are the characters a backslash escapes as themselves.
const dnSpecial = ` "#+,;<=>\`

var errNotDN = errors.New("not a distinguished name")

// parseDN reads a distinguished name in RFC 4514 form: RDNs separated by
// ",", attributes of one RDN by "+", "type=value" each, with backslash
// escapes (a special character, or two hex digits for a byte). Unescaped
// spaces around a type or value are dropped. Hex-encoded (#) values are
// not supported.
func parseDN(s string) (distName, error) {
	var (
		dn       distName
		rdn      []attrValue
		buf      []byte
		typ      string
		haveType bool
		trailing int // unescaped spaces at the end of buf
	)
	take := func() string {
		v := string(buf[:len(buf)-trailing])
		buf, trailing = buf[:0], 0
		return v
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errNotDN
			}
			if strings.IndexByte(dnSpecial, s[i+1]) >= 0 {
				buf = append(buf, s[i+1])
				i++
			} else {
				if i+2 >= len(s) {
					return nil, errNotDN
				}
				b, err := hex.DecodeString(s[i+1 : i+3])
				if err != nil {
					return nil, errNotDN
				}
				buf = append(buf, b[0])
				i += 2
			}
			trailing = 0
		case ch == '=' && !haveType:
			if typ = take(); typ == "" {
				return nil, errNotDN
			}
			haveType = true
			if i+1 < len(s) && s[i+1] == '#' {
				return nil, errNotDN
			}
		case ch == ',' || ch == '+':
			if !haveType {
				return nil, errNotDN
			}
			rdn = append(rdn, attrValue{typ, take()})
			haveType = false
			if ch == ',' {
				dn = append(dn, rdn)
				rdn = nil
			}
		case ch == ' ' && len(buf) == 0:
			// a leading space
		default:
			buf = append(buf, ch)
			if ch == ' ' {
				trailing++
			} else {
				trailing = 0
			}
		}
	}
	if !haveType {
		return nil, errNotDN
	}
	rdn = append(rdn, attrValue{typ, take()})
	return append(dn, rdn), nil
}

// certAttrNames names the subject attributes a certificate's DN may have
// to be compared as a distinguished name (nats-server's list).
var certAttrNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"0.9.2342.19200300.100.1.25": "DC",
}

// oidDC is the domainComponent attribute.
var oidDC = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// rawRDNs decodes a certificate's raw subject, RDNs in certificate order
// (least specific first).
func rawRDNs(raw []byte) (pkix.RDNSequence, bool) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(raw, &seq)
	return seq, err == nil && len(rest) == 0
}

// certDN is the subject as a distinguished name, most specific RDN first;
// false when it has an attribute outside certAttrNames or none at all.
func certDN(seq pkix.RDNSequence) (distName, bool) {
	dn := make(distName, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		if len(seq[i]) == 0 {
			continue
		}
		rdn := make([]attrValue, 0, len(seq[i]))
		for _, atv := range seq[i] {
			name, known := certAttrNames[atv.Type.String()]
			value, isString := atv.Value.(string)
			if !known || !isString {
				return nil, false
			}
			rdn = append(rdn, attrValue{name, value})
		}
		dn = append(dn, rdn)
	}
	return dn, len(dn) > 0
}

// domainComponents is "DC=a,DC=b" for the subject's domain components, in
// certificate order as nats-server writes them, or "".
func domainComponents(seq pkix.RDNSequence) string {
	var dcs []string
	for _, rdn := range seq {
		for _, atv := range rdn {
			if v, ok := atv.Value.(string); ok && atv.Type.Equal(oidDC) {
				dcs = append(dcs, "DC="+v)
			}
		}
	}
	return strings.Join(dcs, ",")
}

// dnUser is a user whose name parses as a distinguished name.
type dnUser struct {
	dn distName
	u  *userEntry
}

// dnUsersOf lists the users named by a distinguished name, in name order so
// that the first match is always the same one.
func dnUsersOf(users map[string]*userEntry) []dnUser {
	var out []dnUser
	for name, u := range users {
		if !strings.Contains(name, "=") {
			continue
		}
		if dn, err := parseDN(name); err == nil {
			out = append(out, dnUser{dn: dn, u: u})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].u.name < out[j].u.name })
	return out
}

// certUser returns the user cert names (see the order above), or nil.
func (a *authenticator) certUser(cert *x509.Certificate) *userEntry {
	if cert == nil {
		return nil
	}
	for _, names := range [][]string{cert.EmailAddresses, cert.DNSNames} {
		for _, n := range names {
			if u := a.users[n]; u != nil {
				return u
			}
		}
	}
	for _, uri := range cert.URIs {
		if u := a.users[uri.String()]; u != nil {
			return u
		}
	}
	seq, ok := rawRDNs(cert.RawSubject)
	if ok {
		if dn, ok := certDN(seq); ok {
			for _, du := range a.dnUsers {
				if du.dn.equal(dn) {
					return du.u
				}
			}
			for _, du := range a.dnUsers {
				if du.dn.sameRDNs(dn) {
					return du.u
				}
			}
		}
	}
	subject := cert.Subject.ToRDNSequence().String()
	if ok {
		if dcs := domainComponents(seq); dcs != "" {
			if u := a.users[subject+","+dcs]; u != nil {
				return u
			}
		}
	}
	return a.users[subject]
}

// certName describes a certificate in log lines: its subject, or its
// first name in the alternative names when the subject is empty.
func certName(cert *x509.Certificate) string {
	switch {
	case cert == nil:
		return "(no certificate)"
	case len(cert.Subject.Names) > 0:
		return cert.Subject.String()
	case len(cert.EmailAddresses) > 0:
		return cert.EmailAddresses[0]
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	}
	return "(certificate without names)"
}

// validateCertMapping checks verify_and_map against the users: it needs
// users to map certificates to, and it is the only way in for a user
// without a password.
func validateCertMapping(o *Options, bad func(name, format string, args ...any)) {
	if o.TLS != nil && o.TLS.VerifyAndMap {
		users := len(o.Users)
		for _, ac := range o.Accounts {
			users += len(ac.Users)
		}
		switch {
		case o.AuthToken != "" || o.Username != "":
			bad("tls.verify_and_map", "maps certificates to the users of authorization.users and accounts, not to a token or a single user")
		case users == 0:
			bad("tls.verify_and_map", "there are no users to map certificates to (list them in authorization.users or an account's users)")
		}
		return
	}
	const noPassword = "user %q has no password (only verify_and_map in [tls] lets a user in without one)"
	for _, u := range o.Users {
		if u.Username != "" && u.Password == "" {
			bad("users", noPassword, u.Username)
		}
	}
	for _, ac := range o.Accounts {
		for _, u := range ac.Users {
			if u.Username != "" && u.Password == "" {
				bad("accounts."+ac.Name+".users", noPassword, u.Username)
			}
		}
	}
}
