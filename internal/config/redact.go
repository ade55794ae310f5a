package config

import (
	"errors"
	"net/url"
	"strings"
)

// Redact hides the credentials of every URL in a comma-separated list
// (user:password@ becomes REDACTED@) before it reaches a log line or an
// error message; an element that does not parse is replaced whole, since
// it may still hold a secret.
func Redact(list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// checkURL accepts scheme://host[:port][/path] with one of schemes.
func checkURL(s string, schemes []string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.Opaque != "" || strings.ContainsAny(s, " \t\r\n") {
		return errors.New("no host")
	}
	if u.Port() != "" {
		if _, err := ParseInt(u.Port(), 1, 65535); err != nil {
			return err
		}
	}
	for _, sc := range schemes {
		if strings.EqualFold(u.Scheme, sc) {
			return nil
		}
	}
	return errors.New("scheme")
}
