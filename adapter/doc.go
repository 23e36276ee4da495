// Package adapter maps the audit records of other systems onto trail's
// events (DESIGN.md §2, §10). Its functions are pure: bytes in, events out,
// no I/O, no clock. The HTTP endpoint (api, POST /v1/ingest/kubernetes) and
// the command line (trail ingest --format vault) feed them and send what
// they return through the ordinary ingest path, so masking, schemas,
// limits and idempotency apply exactly as to POST /v1/events.
//
// Two sources are understood:
//
//   - Kubernetes: the audit webhook backend of kube-apiserver, which POSTs
//     an audit.k8s.io/v1 EventList (k8s.io/apiserver/pkg/apis/audit/v1):
//
//     {"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[
//     {"level":"Metadata","auditID":"…","stage":"ResponseComplete",
//     "requestURI":"/api/v1/namespaces/default/pods","verb":"list",
//     "user":{"username":"alice","groups":["dev"]},"sourceIPs":["10.0.0.1"],
//     "objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},
//     "responseStatus":{"metadata":{},"code":200},
//     "requestReceivedTimestamp":"…","stageTimestamp":"…"}]}
//
//     See Kubernetes and docs/kubernetes.md for the mapping.
//
//   - Vault: the file audit device of HashiCorp Vault, one JSON object per
//     line of type "request" or "response". See Vault.
//
// Errors are *trail.Error with code EINVALID whose Field is the JSON path
// of the offending input, such as "items[3].verb".
package adapter
