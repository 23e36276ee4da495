package storetest

import "github.com/trail-audit/trail/gen"

// Gen is the realistic event generator, kept here so that existing callers
// compile; it lives in package gen (which binaries may import).
type Gen = gen.Gen

// NewGen returns gen.New(seed, tenants).
func NewGen(seed uint64, tenants int) *Gen { return gen.New(seed, tenants) }
