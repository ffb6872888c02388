package config

import "github.com/osa-archive/osa/dump"

// Defaults and bounds of the import section.
const (
	ImportBatchSizeDefault    = dump.ImportBatchSizeDefault
	ImportBatchSizeMin        = 1
	ImportBatchSizeMax        = 100000
	ImportMaxLineBytesDefault = dump.ImportMaxLineBytesDefault
	ImportMaxLineBytesMin     = 1 << 10
	ImportMaxLineBytesMax     = 1 << 30
	ImportMaxProblemsDefault  = dump.ImportMaxProblemsDefault
	ImportMaxProblemsMin      = 1
	ImportMaxProblemsMax      = 1000000
)

// Import configures imports (RecordService.ImportRecords).
type Import struct {
	// BatchSize is how many records one transaction of an import writes, 1..100000; each
	// holds the changefeed back while it runs. Defaults to 1000.
	BatchSize int `koanf:"batch_size"`

	// MaxLineBytes is the longest line an import reads, 1024..1073741824; a longer line is
	// reported as bad. A line holds a record with all its versions. Defaults to 16777216
	// (16 MiB).
	MaxLineBytes int `koanf:"max_line_bytes"`

	// MaxProblems is how many bad or conflicting lines an import's answer lists,
	// 1..1000000 (it counts them all). Defaults to 1000.
	MaxProblems int `koanf:"max_problems"`
}

func (i *Import) validate(p *problems) {
	p.intRange("import.batch_size", i.BatchSize, ImportBatchSizeMin, ImportBatchSizeMax)
	p.intRange("import.max_line_bytes", i.MaxLineBytes, ImportMaxLineBytesMin, ImportMaxLineBytesMax)
	p.intRange("import.max_problems", i.MaxProblems, ImportMaxProblemsMin, ImportMaxProblemsMax)
}
