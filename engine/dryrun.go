package engine

import (
	"cmp"
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/upload"
)

// PlanReport is what a run would do, computed inside its snapshot, with nothing exported.
type PlanReport struct {
	Snapshot     Snapshot    `json:"snapshot"`
	Tables       []PlanTable `json:"tables"`
	Chunks       []PlanChunk `json:"chunks"`
	Jobs         int         `json:"jobs"`
	PartSize     int64       `json:"part_size"`
	MemoryLimit  int64       `json:"memory_limit"`
	Manifest     string      `json:"manifest"`
	BucketAccess string      `json:"bucket_access"` // "ok", or what HeadBucket said
	Problems     []string    `json:"problems,omitempty"`
	// Commits is what a clean run publishes, in order (the manifests, the journal's end, the
	// incremental state, the clean path).
	Commits []string `json:"commits,omitempty"`
	// Incremental is an incremental run's plan: its number, the run it follows, and per table the
	// previous high-water mark and the planner's estimate of the changed rows.
	Incremental *RunState `json:"incremental,omitempty"`
	// ResumedChunks is, for a resume, how many chunks earlier attempts finished (Chunks are the
	// ones that remain).
	ResumedChunks int  `json:"resumed_chunks,omitempty"`
	Resuming      bool `json:"resuming,omitempty"`
	// AlreadyComplete: a resume whose run an earlier attempt finished; there is nothing to plan.
	AlreadyComplete bool `json:"already_complete,omitempty"`
	// Routing is how a partitioned run groups the rows of the chunks whose keys the server
	// computes; nil when there are none.
	Routing *PlanRouting `json:"routing,omitempty"`
}

// PlanRouting is how a partitioned run groups rows: Chunks chunks (of the plan's) go through a
// router of Memory bytes each, which spills what does not fit to a file in SpillDir. Each writes
// about one object per partition value it meets (more where a value's rows exceed the object size
// limits, or where no spill file can be written): EstObjects when the planner's estimates of the
// values are known (0: not estimated).
type PlanRouting struct {
	Chunks     int    `json:"chunks"`
	Memory     int64  `json:"memory_bytes"`
	SpillDir   string `json:"spill_dir"`
	EstObjects int64  `json:"est_objects,omitempty"`
}

// PlanTable is a table of the plan.
type PlanTable struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	EstRows   int64  `json:"est_rows"`
	SizeBytes int64  `json:"size_bytes"`
	Select    bool   `json:"select_privilege"`
	// EstPartitions is the planner's estimate of the distinct PartitionBy values (-1: not
	// estimated, for an expression the planner has no statistics of).
	EstPartitions int64 `json:"est_partitions,omitempty"`
	// Iceberg is the table's Iceberg table as the plan found it (TableFormat iceberg).
	Iceberg *PlanIceberg `json:"iceberg,omitempty"`
}

// PlanIceberg is an Iceberg table before the run: its name, location, metadata version and
// current snapshot (0: a new table, or one without a snapshot).
type PlanIceberg struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Version  int    `json:"version"`
	Snapshot int64  `json:"snapshot_id"`
	Change   string `json:"change"` // what the run does to it
}

// PlanChunk is a chunk of the plan and the key of its first object.
type PlanChunk struct {
	Table    string `json:"table"`
	Chunk    int    `json:"chunk"`
	Range    string `json:"range"`
	EstBytes int64  `json:"est_bytes"`
	FirstKey string `json:"first_object"`
}

// Report is the plan as pg2s3 plan prints it, with access checked: tables, estimates, chunks with
// their ctid ranges and first keys, what the run commits, part size and memory budget. It exports
// nothing and changes nothing.
func (p *Plan) Report(ctx context.Context) (*PlanReport, error) {
	if p.done != nil {
		return &PlanReport{Snapshot: p.done.Snapshot, Manifest: p.done.URL, AlreadyComplete: true, Resuming: true}, nil
	}
	cfg := p.cfg
	r := &PlanReport{Snapshot: p.snap, Jobs: cfg.jobs(), PartSize: cfg.Upload.PartSize, MemoryLimit: cfg.MemoryLimit, Incremental: p.inc,
		ResumedChunks: p.resumedChunks, Resuming: p.resuming}
	if cfg.To.IsPrefix() {
		r.Manifest = p.manifestURL.String()
	}
	for _, t := range p.tables {
		pt := PlanTable{Name: t.String(), Kind: t.Kind, EstRows: t.EstRows, SizeBytes: t.SizeBytes, Select: t.Select, EstPartitions: t.EstPartitions}
		if it := t.iceberg; it != nil {
			pt.Iceberg = &PlanIceberg{Name: it.Namespace + "." + it.Name, Location: it.Location.String(), Version: it.Version, Snapshot: it.Snapshot,
				Change: t.icebergChange()}
		}
		r.Tables = append(r.Tables, pt)
		if !t.Select {
			r.Problems = append(r.Problems, (&PrivilegeError{Table: t.String()}).Error())
		}
	}
	for _, c := range p.chunks {
		partition := "" // the template's {partition} stays, unless the chunk's first leaf fixes it
		if len(c.parts) > 0 && c.parts[0].Key != nil {
			partition = hivePath(keyValues(cfg.PartitionBy, c.parts[0].Key))
		}
		r.Chunks = append(r.Chunks, PlanChunk{Table: c.Table.String(), Chunk: c.Index, Range: c.Range(), EstBytes: c.EstBytes,
			FirstKey: p.target(c, 0, partition, nil).String()})
	}
	r.Routing = p.routing()
	for _, c := range (&run{Plan: p}).committers() { // made, not run
		r.Commits = append(r.Commits, c.String())
	}
	if p.tooMany != nil {
		r.Problems = append(r.Problems, p.tooMany.Error())
	}
	r.BucketAccess = "ok"
	if !p.resuming { // a resume finds its earlier attempts' objects there
		if err := p.checkPrefix(ctx); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
	}
	if cfg.To.S3 != nil {
		if _, err := p.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &cfg.To.S3.Bucket}); err != nil {
			r.BucketAccess = (&upload.Error{Op: "head bucket", Bucket: cfg.To.S3.Bucket, Err: err}).Error()
			r.Problems = append(r.Problems, r.BucketAccess)
		}
	} else {
		r.BucketAccess = "not used"
	}
	return r, nil
}

// routing is the plan's PlanRouting, or nil.
func (p *Plan) routing() *PlanRouting {
	var r PlanRouting
	estimated := true
	for _, c := range p.chunks {
		if !p.routes(c) {
			continue
		}
		r.Chunks++
		if c.Table.EstPartitions < 0 {
			estimated = false
		}
		r.EstObjects += max(c.Table.EstPartitions, 1)
	}
	if r.Chunks == 0 {
		return nil
	}
	if !estimated {
		r.EstObjects = 0
	}
	r.Memory, r.SpillDir = p.cfg.routeLimit(p.routers()), cmp.Or(p.cfg.SpillDir, os.TempDir())
	return &r
}
