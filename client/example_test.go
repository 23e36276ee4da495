package client_test

import (
	"context"
	"log"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/client"
)

func Example() {
	c, err := client.New(client.Config{
		Server:   "http://127.0.0.1:8080",
		Key:      "trail_writer_key",
		SpoolDir: "/var/lib/myapp/trail-spool", // events survive a restart while trail is down
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			log.Print(err)
		}
	}()
	err = c.Send(context.Background(), trail.Event{
		Action:   "route.update",
		Outcome:  trail.OutcomeSuccess,
		Actor:    trail.Actor{ID: "u_42", Type: trail.ActorUser},
		Resource: &trail.Resource{Type: "route", ID: "r_9"},
	})
	if err != nil {
		log.Print(err) // invalid event, or the queue is full and the fail policy refused it
	}
}
