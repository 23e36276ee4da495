package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/trail-audit/trail/internal/atomicfile"
)

// CursorStore keeps each sink's durable cursor: the seq of the next event
// of its tenant's log that the sink has not delivered. Everything before
// the cursor was acknowledged by the destination (or did not match the
// filter). Implementations must be safe for concurrent use; Save must be
// durable when it returns nil.
type CursorStore interface {
	// Load returns the cursor of sink id and whether one was saved.
	Load(ctx context.Context, id string) (seq int64, ok bool, err error)
	// Save durably replaces the cursor of sink id.
	Save(ctx context.Context, id string, seq int64) error
	// Delete forgets the cursor of sink id; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
}

// MemCursors is a CursorStore in memory, for tests and for sinks whose
// delivery may restart from scratch. The zero value is ready to use.
type MemCursors struct {
	mu sync.Mutex
	m  map[string]int64
}

var _ CursorStore = (*MemCursors)(nil)

// Load implements CursorStore.
func (c *MemCursors) Load(_ context.Context, id string) (int64, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, ok := c.m[id]
	return seq, ok, nil
}

// Save implements CursorStore.
func (c *MemCursors) Save(_ context.Context, id string, seq int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[id] = seq
	return nil
}

// Delete implements CursorStore.
func (c *MemCursors) Delete(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
	return nil
}

// FileCursors is a CursorStore of one small file per sink in a directory,
// named after the sink id and holding the cursor in decimal and a newline.
// Each Save replaces the file atomically and syncs it (internal/atomicfile),
// so a crash leaves the old or the new cursor.
type FileCursors struct {
	Dir string
}

var _ CursorStore = (*FileCursors)(nil)

func (c *FileCursors) path(id string) (string, error) {
	if !idPattern.MatchString(id) {
		return "", fmt.Errorf("sink: cursor: bad sink id %q", id)
	}
	return filepath.Join(c.Dir, id+".cursor"), nil
}

// Load implements CursorStore.
func (c *FileCursors) Load(_ context.Context, id string) (int64, bool, error) {
	p, err := c.path(id)
	if err != nil {
		return 0, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sink: load cursor: %w", err)
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || seq < 0 {
		return 0, false, fmt.Errorf("sink: load cursor: %s: not a seq", p)
	}
	return seq, true, nil
}

// Save implements CursorStore.
func (c *FileCursors) Save(_ context.Context, id string, seq int64) error {
	p, err := c.path(id)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p, []byte(strconv.FormatInt(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("sink: save cursor: %w", err)
	}
	return nil
}

// Delete implements CursorStore.
func (c *FileCursors) Delete(_ context.Context, id string) error {
	p, err := c.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sink: delete cursor: %w", err)
	}
	return nil
}
