package trail

// Receipt is what ingest returns for each event: its id, its position in
// its tenant's log and its leaf hash. Duplicate is true when the id had been
// accepted before and this receipt is the original one; nothing was appended.
type Receipt struct {
	ID        string          `json:"id"`
	Seq       int64           `json:"seq"`
	Tenant    string          `json:"tenant"`
	LeafHash  Hash            `json:"leaf_hash"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Inclusion *InclusionProof `json:"inclusion,omitempty"`
}

// AppendResult is the outcome of Store.Append: one receipt per event in
// request order, and for every tenant the batch touched the signed checkpoint
// that covers all of its receipts.
type AppendResult struct {
	Receipts    []Receipt
	Checkpoints map[string]*Checkpoint
}

// Checkpoint is a signed tree head of one tenant's log: a C2SP
// tlog-checkpoint note with origin "<server-name>/<tenant>". Note holds the
// complete signed text:
//
//	example.com/trail/acme
//	1042
//	hbS8…base64 root…=
//
//	— example.com/trail Az3f…signature…
type Checkpoint struct {
	Origin string
	Size   int64
	Root   Hash
	Note   []byte
}

// InclusionProof proves that leaf LeafIndex is in the tree of size TreeSize
// (RFC 6962 §2.1.1 audit path).
type InclusionProof struct {
	LeafIndex int64  `json:"leaf_index"`
	TreeSize  int64  `json:"tree_size"`
	Hashes    []Hash `json:"hashes"`
}

// ConsistencyProof proves that the tree of size To extends the tree of size
// From (RFC 6962 §2.1.2).
type ConsistencyProof struct {
	From   int64  `json:"from"`
	To     int64  `json:"to"`
	Hashes []Hash `json:"hashes"`
}

// Tenant describes one tenant's log.
type Tenant struct {
	Name string `json:"name"`
	Size int64  `json:"size"` // number of events, = next seq
}

// RetentionResult reports what Store.Retain removed.
type RetentionResult struct {
	Tenant   string `json:"tenant"`
	Purged   int64  `json:"purged"`    // events whose content was removed by this call
	FirstSeq int64  `json:"first_seq"` // first seq purged, -1 when none
	LastSeq  int64  `json:"last_seq"`  // last seq purged, -1 when none
}

// VerifyReport summarises a deep verification that found no damage.
type VerifyReport struct {
	Tenants     int   `json:"tenants"`
	Events      int64 `json:"events"`      // leaves checked
	Erased      int64 `json:"erased"`      // leaves whose content was removed (hash only)
	Checkpoints int   `json:"checkpoints"` // signatures checked
}

// ErasureResult is what an erasure did.
type ErasureResult struct {
	Tenant string  `json:"tenant"`
	Erased int64   `json:"erased"` // events whose content this call removed
	Seqs   []int64 `json:"-"`      // their seqs, ascending
}
