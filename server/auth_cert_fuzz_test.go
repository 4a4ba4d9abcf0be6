package server

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// FuzzCertNames feeds the two parsers behind verify_and_map: user names
// from the config read as distinguished names, and raw certificate
// subjects from clients. Neither may panic, and a name that parses
// equals itself in both comparisons.
func FuzzCertNames(f *testing.F) {
	for _, s := range []string{
		"CN=alice,OU=eng,O=Acme", "CN=a\\,b+UID=x, O = Acme ", "cn=\\41", "=x", "CN=#0403", "a,b", "CN=x\\",
	} {
		subject, _ := asn1.Marshal(pkix.Name{CommonName: s, Organization: []string{"Acme"}}.ToRDNSequence())
		f.Add(s, subject)
	}
	f.Fuzz(func(t *testing.T, name string, rawSubject []byte) {
		if dn, err := parseDN(name); err == nil && (!dn.equal(dn) || !dn.sameRDNs(dn)) {
			t.Fatalf("%q parses to %v, which does not equal itself", name, dn)
		}
		if seq, ok := rawRDNs(rawSubject); ok {
			if dn, ok := certDN(seq); ok && !dn.equal(dn) {
				t.Fatalf("certificate subject %v does not equal itself", dn)
			}
		}
	})
}
