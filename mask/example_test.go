package mask_test

import (
	"fmt"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/mask"
)

func ExampleMasker_Apply() {
	tenantKey := []byte("a random 32-byte secret per tenant")
	m, err := mask.New(mask.Config{Rules: []mask.Rule{
		{Path: "metadata.card.holder", Action: mask.ActionDrop},
	}}, tenantKey)
	if err != nil {
		panic(err)
	}
	e := &trail.Event{
		Action: "billing.charge",
		Actor:  trail.Actor{ID: "u_42", Email: "ada@example.com"},
		Reason: "retry with Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
		Metadata: map[string]any{
			"card":   map[string]any{"number": "4111 1111 1111 1111", "holder": "Ada L"},
			"db_url": "postgres://app:s3cret@db:5432/prod",
		},
	}
	e.Normalize(time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC), func() string { return "id" })
	m.Apply(e)
	fmt.Println(e.Actor.Email)
	fmt.Println(e.Reason)
	fmt.Println(e.Metadata)
	fmt.Println(e.Masked)
	// Output:
	// ada@example.com
	// retry with Authorization: [REDACTED]
	// map[card:map[number:****1111] db_url:postgres://app:[REDACTED]@db:5432/prod]
	// [metadata.card.holder metadata.card.number metadata.db_url reason]
}

func ExampleMasker_SearchValue() {
	m, _ := mask.New(mask.DefaultConfig(), []byte("a random 32-byte secret per tenant"))
	e := &trail.Event{Action: "user.invite", Actor: trail.Actor{ID: "u_42"},
		Metadata: map[string]any{"invitee": "Grace@Example.com"}}
	m.Apply(e)
	v, _ := m.SearchValue("metadata.invitee", "grace@example.com")
	fmt.Println(v == e.Metadata["invitee"])
	// Output: true
}
