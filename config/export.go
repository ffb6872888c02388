package config

import "github.com/osa-archive/osa/dump"

// Defaults and bounds of the export section.
const (
	ExportChunkBytesDefault = dump.ChunkBytesDefault
	ExportChunkBytesMin     = 4 << 10
	ExportChunkBytesMax     = 16 << 20
	ExportMaxRunningDefault = dump.MaxRunningDefault
	ExportMaxRunningMin     = 1
	ExportMaxRunningMax     = 1000
)

// Export configures exports (RecordService.ExportRecords, GET /export/records.*).
type Export struct {
	// ChunkBytes is about how many bytes of the file one ExportRecords message (one write of a
	// download) carries, 4096..16777216. Defaults to 262144 (256 KiB).
	ChunkBytes int `koanf:"chunk_bytes"`

	// MaxRunning is how many exports a process runs at once, 1..1000; one more is refused with
	// ResourceExhausted. Each holds a database connection and a snapshot (which keeps VACUUM
	// from removing rows deleted since) for as long as its client reads. Defaults to 4.
	MaxRunning int `koanf:"max_running"`
}

func (e *Export) validate(p *problems) {
	p.intRange("export.chunk_bytes", e.ChunkBytes, ExportChunkBytesMin, ExportChunkBytesMax)
	p.intRange("export.max_running", e.MaxRunning, ExportMaxRunningMin, ExportMaxRunningMax)
}
