package pgstore

import (
	"net/url"
	"strings"
)

// WithSchema returns dsn, a URL or a key=value connection string, with its
// search_path set to schema (a name that needs no quoting), replacing any
// search_path it had: the connection string of a store whose tables live
// in that schema.
func WithSchema(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil // the last setting of a key wins
}
