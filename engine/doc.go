// Package engine is pg2s3's one pipeline: it exports a query, a table or many tables, as one
// object or many, and every capability of an export is written here once.
//
// A run plans inside one snapshot and then streams:
//
//	coordinator: BEGIN REPEATABLE READ READ ONLY; pg_export_snapshot(); resolve tables; plan chunks
//	each chunk:  COPY ... TO STDOUT -> splitter (copyout.RowWriter) -> buffer -> Stages -> sink
//
// An export to one object (an S3 key, a file, stdout) is the one-job, one-chunk, no-split case:
// its COPY runs on the coordinator itself, in the snapshot's own transaction.
//
// What it promises:
//
//   - One instant: every COPY of a run, across tables, chunks and workers, joins the coordinator's
//     exported snapshot (or the one given in Config.Snapshot), which the coordinator holds until
//     the last COPY has finished.
//   - Chunks: ordinary tables larger than ChunkSize are split into ctid page ranges (a TID Range
//     Scan on PostgreSQL 14+; older servers export each table as one chunk, and the run says so),
//     scheduled largest first over Jobs connections. Only prefix destinations are chunked. A
//     partitioned table is read leaf by leaf (leaves.go): big leaves in page ranges, small ones
//     together, in the parent's columns; with PartitionBy, a leaf whose bounds fix the value is
//     read without a computed key or a router.
//   - Splits on row boundaries: PostgreSQL sends one CopyData message per row, so a new object
//     starts between two messages when MaxObjectSize (bytes of CSV, before compression) or MaxRows
//     is reached; no row is parsed, and with a header every object starts with it.
//   - Stages: each object's bytes pass through Config.Stages and then the compressor ([Stage]) on
//     their way to the sink; a stage sees whole objects. With Config.Parquet the COPY is binary, a
//     framer (package columnar) hands the splitter one tuple at a time, and the Parquet encoder
//     takes the compressor's place: the only path that decodes rows.
//   - Partitions (Config.PartitionBy): each chunk's COPY sends each level's value first, in the
//     COPY's own format (partkey.go), in the order the server reads the rows. The chunk's router
//     (route.go) groups them by value in pages of memory and an unlinked spill file, and writes each
//     value's rows through the splitter, which cuts the key off and starts a new object when it
//     changes: a worker has one object open whatever the number of values. At most jobs x
//     concurrency uploads run at once, and a chunk that closes objects faster than the store takes
//     them waits.
//   - Memory: one budget (MemoryLimit) shared by every part buffer of the run; a worker that would
//     go over it waits, which back-pressures its COPY. A partitioned run's routers take their share
//     of the unpartitioned run's memory off that budget (routeLimit).
//   - All or nothing: an object is published only when its stream ended cleanly (package sink);
//     the manifest of a prefix destination is written last, only after every object completed, so
//     its presence means the run is whole. If anything fails, every upload is aborted, the objects
//     already completed are deleted (unless KeepPartial, which names them), and no manifest is
//     written.
//   - Resumable runs (Config.Resume, resume.go): a journal under prefix/_pg2s3/ records each
//     finished chunk's objects; a failed attempt keeps them, and the next attempt, in the same held
//     snapshot, exports only the chunks without a record, then writes the manifest with
//     If-None-Match and removes the journal.
//   - Incremental runs (Config.Incremental, incremental.go): each run writes under a run=.../
//     folder of the base prefix the rows changed since the base's previous run, found by the
//     previous snapshot's transaction horizon (so late commits are not lost), and commits, last
//     and with If-None-Match, its state in base/_pg2s3/run-NNNNNN.json.
//   - Cancellation: cancelling the context cancels every query (a cancel request, then the socket)
//     and aborts every upload on a context the cancellation does not reach; Run returns an error
//     saying the run was interrupted, with the cause.
//   - Errors: a wrong setting is a *setting.Error (ConfigError here, OptionError in copyout and
//     upload), named by its Go name; no error names a command-line flag: package command words them.
//
// # Incremental runs
//
// Incremental runs (Config.Incremental) export, under the destination prefix (the base), the rows
// changed since the previous run of the same base, each run under a run path of its own
// (base/run=20261202T130000Z-000001-5f0e8a2c/), and record the run in a state object written last,
// base/_pg2s3/run-000042.json. The state is in the bucket only, so a run may start on any machine.
//
// Which rows a run exports. The previous run recorded its snapshot's xmin: every transaction
// below it had ended when that snapshot was taken, so every row version written by such a
// transaction was either visible to the previous run (and exported by it, or by an earlier run) or
// deleted. A run therefore exports each row version whose writing transaction (its xmin) is not
// below the previous run's snapshot xmin, together with the rows whose column is above the
// previous high-water mark. That set holds every row inserted or updated since the previous run
// (an UPDATE writes a new row version), including those of transactions that started before the
// previous run and committed after it, whatever value they put in the column: a late commit is
// never lost. The column's high-water mark is recorded for people and loaders; the transaction
// horizon is what makes the run complete.
//
// What a consumer may see twice: rows written by transactions that were running when the previous
// snapshot was taken but committed before it was (between its xmin and its xmax), and rows of
// earlier runs written again by a table rewrite (VACUUM FULL keeps xmin; pg_repack or an ALTER
// TABLE that rewrites the table does not). Deduplicate on the table's primary key, keeping the row
// of the latest run (the manifest and the state name the key: dedupe_key). Deleted rows are not
// seen: use soft deletes, or a full export (a new base) from time to time.
//
// The cost: the condition on xmin cannot use an index, so on its own the server reads the whole
// table (a sequential scan, filtered on the server; only the changed rows travel). Where a lower
// bound on the column can be proven (horizon.go: a timestamptz stamped from the writers' clock,
// an index on it, a horizon of transaction starts recorded by the previous run), the run reads
// that index range instead, with the xmin condition as a filter on it.
package engine
