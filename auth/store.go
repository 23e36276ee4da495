package auth

import (
	"context"
	"time"
)

// Store persists keys. Load returns every key (none, and no error, when
// nothing was saved yet); Save replaces them all and is durable when it
// returns. Keys calls Save with the complete set after every change, unless
// the store is also a ChangeStore.
//
// A Store that only has Load and Save is for one process: Save writes that
// process's view of every key, so two processes sharing it would undo each
// other's changes. Stores shared by several nodes implement ChangeStore.
type Store interface {
	Load(ctx context.Context) ([]Key, error)
	Save(ctx context.Context, keys []Key) error
}

// ChangeStore is a Store that several processes (trail nodes) may share: it
// changes one key at a time, so no node overwrites a change it has not
// seen. When the Store given to NewKeys is a ChangeStore, Keys never calls
// Save; every change goes through Update, CreateFirst or Touch, and
// decisions that depend on a key's state (is it revoked? expired?) are made
// on the stored key, not on the node's possibly stale memory. Other nodes
// learn of a change when their Keys.Reload runs (see pgstore/pgkeys.Watch).
//
// All methods are durable when they return and safe for concurrent use by
// any number of goroutines and processes.
type ChangeStore interface {
	Store

	// Update reads the stored key with the given id (nil when there is
	// none), passes a copy to change, and stores the key change returns
	// (inserted or replaced by id), atomically with respect to every other
	// Update, CreateFirst and Touch of that id by any process. It returns
	// the key as stored. change must return a key with the same id; it may
	// be called more than once (when a concurrent insert of the same id
	// forces a retry), so it must not have side effects beyond its result.
	// When change returns an error, nothing is written and Update returns
	// that error unwrapped. Store failures are returned wrapped.
	Update(ctx context.Context, id string, change func(stored *Key) (Key, error)) (Key, error)

	// CreateFirst stores key when the store holds no key at all and
	// reports whether it did, atomically with respect to every other
	// change, so that of several nodes bootstrapping an empty store at
	// once exactly one succeeds.
	CreateFirst(ctx context.Context, key Key) (bool, error)

	// Touch sets the stored LastUsedAt of key id to usedAt when that is
	// later than the stored time (or there is none), and does nothing
	// otherwise or when there is no such key. It changes no other field,
	// so a node with stale memory cannot undo a revocation by recording a
	// use. Other nodes need not be told of it: last-used times are
	// informational and are merged, newest wins, on reload.
	Touch(ctx context.Context, id string, usedAt time.Time) error
}
