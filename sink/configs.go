package sink

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/trail-audit/trail/internal/atomicfile"
)

// Configs keeps the configuration of every sink, for the /v1/sinks API
// and for restarting them with the server. Secrets are stored as given, in
// a file readable by its owner only.
type Configs interface {
	List() ([]Sink, error)
	Put(s Sink) error
	Delete(id string) error
}

// FileConfigs is Configs in one JSON file (mode 0600), replaced atomically
// on every change. It is safe for concurrent use within one process.
type FileConfigs struct {
	Path string
	mu   sync.Mutex
}

type configFile struct {
	Version int    `json:"version"`
	Sinks   []Sink `json:"sinks"`
}

// List returns every sink, by id.
func (c *FileConfigs) List() ([]Sink, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load()
}

func (c *FileConfigs) load() ([]Sink, error) {
	var f configFile
	if _, err := atomicfile.ReadJSON(c.Path, 1, &f); err != nil {
		return nil, err
	}
	return f.Sinks, nil
}

func (c *FileConfigs) save(sinks []Sink) error {
	slices.SortFunc(sinks, func(a, b Sink) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(configFile{Version: 1, Sinks: sinks}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.Path, append(data, '\n'), 0o600)
}

// Put adds s or replaces the sink with its id.
func (c *FileConfigs) Put(s Sink) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sinks, err := c.load()
	if err != nil {
		return err
	}
	sinks = slices.DeleteFunc(sinks, func(x Sink) bool { return x.ID == s.ID })
	return c.save(append(sinks, s))
}

// Delete removes the sink with id; a missing id is not an error.
func (c *FileConfigs) Delete(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sinks, err := c.load()
	if err != nil {
		return err
	}
	return c.save(slices.DeleteFunc(sinks, func(x Sink) bool { return x.ID == id }))
}
