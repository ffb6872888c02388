package pipeline

import (
	"github.com/osa-archive/osa/backends"
)

// namedBackend is a backend with only a name, for the queue arithmetic tests: any other method
// panics (the nil interface it embeds).
type namedBackend struct {
	backends.Backend
	name string
}

func named(n string) backends.Backend { return namedBackend{name: n} }

func (b namedBackend) Name() string { return b.name }
