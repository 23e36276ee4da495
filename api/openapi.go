package api

import (
	_ "embed"
	"net/http"

	"github.com/trail-audit/trail/auth"
)

// OpenAPISpec is the OpenAPI 3.1 description of this API, served at
// /openapi.json. A test checks that it lists exactly the routes of Routes.
//
//go:embed openapi.json
var OpenAPISpec []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(OpenAPISpec)
	return err
}
