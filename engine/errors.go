package engine

import (
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/upload"
)

// The errors the engine returns for callers to tell apart; a wrong setting is a *ConfigError
// (config.go). None names a command-line flag: package command words them.

// ConcurrentRunError is an incremental run that lost the race to commit to another run of the
// same base.
type ConcurrentRunError struct {
	Base  string
	Run   int
	State string
}

func (e *ConcurrentRunError) Error() string {
	return fmt.Sprintf("another run of %s committed run %d first (%s exists): this run's objects and manifest were removed; run again to export what changed since",
		e.Base, e.Run, e.State)
}

// IcebergRunError is an Iceberg table that holds another incremental run than the one an
// incremental run of its base starts from: another run committed it in between, or the base's
// states are not the table's.
type IcebergRunError struct {
	Table string
	Holds string // the run the table's current snapshot names ("": none)
	Want  string // the run this run expected
}

func (e *IcebergRunError) Error() string {
	return fmt.Sprintf("the Iceberg table %s holds incremental run %q, this run expected %q: another run committed it; run again "+
		"(a table that holds a run its base has no state of is exported again to a new prefix)", e.Table, e.Holds, e.Want)
}

// KeyCollisionError is two things of one run that would be written to the same key: the second
// would silently replace the first.
type KeyCollisionError struct {
	URL  string
	A, B string // what each one is
}

func (e *KeyCollisionError) Error() string {
	return fmt.Sprintf("%s and %s would both be written to %s", e.A, e.B, e.URL)
}

// PrefixInUseError is a prefix destination that already holds objects, which the run would mix
// with its own (or replace) without Overwrite or CleanPath.
type PrefixInUseError struct {
	Prefix string
	Key    string // one object found there
	Shard  bool   // a shard's run: the object is one this shard would write
}

func (e *PrefixInUseError) Error() string {
	if e.Shard {
		return fmt.Sprintf("%s already holds s3://%s, which this shard would replace", e.Prefix, e.Key)
	}
	return fmt.Sprintf("%s already holds objects (s3://%s, ...): a reader of the prefix would see two runs mixed", e.Prefix, e.Key)
}

// SnapshotGoneError is a resume whose snapshot can no longer be joined.
type SnapshotGoneError struct {
	ID     string
	Prefix string
	// Open are the multipart uploads that killed attempts left open under the prefix: deleting the
	// prefix's objects does not remove them, and their parts are billed until they are aborted.
	// They are named, not aborted: an attempt that joined the snapshot before it ended may still
	// be running, and owns them.
	Open  []upload.Incomplete
	Store upload.Store
	Err   error
}

func (e *SnapshotGoneError) Error() string {
	msg := fmt.Sprintf("cannot resume: the run's snapshot %s is no longer held (its `pg2s3 snapshot` ended), and a resume must "+
		"export the same instant as the chunks already done. Start the run again under a new snapshot (a new prefix, or "+
		"delete %s and what is under it), or, for data that does not change, resume with Config.ResumeNewSnapshot: %v", e.ID, e.Prefix, e.Err)
	if len(e.Open) > 0 {
		var ids []string
		for _, u := range e.Open {
			ids = append(ids, fmt.Sprintf("s3://%s/%s (upload %s)", u.Bucket, u.Key, u.UploadID))
		}
		msg += fmt.Sprintf("; %d multipart uploads of earlier attempts are still open under the prefix, and keep their parts, billed, "+
			"until they are aborted (deleting the objects does not remove them): %s", len(e.Open), strings.Join(ids, " "))
	}
	return msg
}

func (e *SnapshotGoneError) Unwrap() error { return e.Err }

// ResumeRaceError is an attempt that finished second: another one wrote the manifest.
type ResumeRaceError struct{ Manifest string }

func (e *ResumeRaceError) Error() string {
	return fmt.Sprintf("another attempt of this run finished first and wrote %s: this one's objects are the same, and were left in place", e.Manifest)
}

// TooManyPartitionsError is a run that met more partition values than MaxPartitions, after it
// began: not a bad setting found before the run (that is a *ConfigError), but a failed run.
type TooManyPartitionsError struct{ Max, Seen int }

func (e *TooManyPartitionsError) Error() string {
	return fmt.Sprintf("the run found more partition values than the limit of %d (%d so far); raise the limit, or partition by something coarser",
		e.Max, e.Seen)
}

// PrivilegeError is a table the role may not read.
type PrivilegeError struct{ Table string }

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("permission denied: the role has no SELECT privilege on %s (the COPY would fail with SQLSTATE 42501; "+
		"GRANT SELECT ON %s TO the export's role)", e.Table, e.Table)
}

// ChunkError is a chunk of a table that failed.
type ChunkError struct {
	Table string
	Chunk int
	Range string
	Err   error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("%s, chunk %d (%s): %v", e.Table, e.Chunk, e.Range, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// NoSnapshotIDError is a published snapshot ID that is not there: its holder has not started, or
// has ended (it removes the ID when it releases the snapshot).
type NoSnapshotIDError struct{ From string }

func (e *NoSnapshotIDError) Error() string {
	return fmt.Sprintf("no snapshot ID at %s: is the snapshot's holder (`pg2s3 snapshot`) running? (it removes the ID when it ends)", e.From)
}

// LeftoverError is a failed run that could not remove all it wrote: multipart uploads whose abort
// failed (their parts are billed) and completed objects it could not delete. Err names them; the
// fields are for whoever words the clean-up, with the Store they are in.
type LeftoverError struct {
	Err     error
	Uploads []upload.Incomplete
	Objects []string // s3:// URLs
	Store   upload.Store
}

func (e *LeftoverError) Error() string { return e.Err.Error() }
func (e *LeftoverError) Unwrap() error { return e.Err }

// IcebergCommitError is a run whose Iceberg commits stopped after some tables were committed:
// those tables hold the run's files now, which stay; the others were not changed, and their files
// were deleted (Left: those that could not be).
type IcebergCommitError struct {
	Committed []string // the tables committed
	Table     string   // the table whose commit failed
	Err       error
	Left      []string // data files no table names, which could not be deleted
}

func (e *IcebergCommitError) Error() string {
	committed := strings.Join(e.Committed, ", ")
	if committed == "" {
		committed = "none"
	}
	msg := fmt.Sprintf("committing Iceberg table %s: %v (the tables committed before it keep this run's files: %s; "+
		"the files of the others were deleted", e.Table, e.Err, committed)
	if len(e.Left) > 0 {
		msg += fmt.Sprintf(", but for %d, still there: %s", len(e.Left), strings.Join(e.Left, " "))
	}
	return msg + ")"
}

func (e *IcebergCommitError) Unwrap() error { return e.Err }
