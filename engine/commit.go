package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/upload"
)

// A committer publishes one thing once the executor has written every object of a clean run: a
// manifest, the end of a resume's journal, an incremental run's state, a clean path. The run's
// committers are values, made by the plan and run in order by commit; a new output (a table
// format's commit) is one more of them, not more code in the run loop.
type committer interface {
	commit(ctx context.Context, m *Manifest) error
	// undo takes back what commit published, when a later committer fails before the run counts.
	undo(ctx context.Context) error
	// counts says that once this one has committed, the run counts: a later failure takes nothing
	// back (the data and what says it is whole stay).
	counts() bool
	fmt.Stringer // what it publishes, as the plan reports it
}

// committers are the run's committers, in the order they run: the per-table manifests, the
// Iceberg tables, the manifest (the run counts from here, but for an incremental run, which counts
// from its state), the journal's end, the incremental state (then an incremental run's Iceberg
// tables), the clean path. A single object has none.
func (r *run) committers() []committer {
	cfg := r.cfg
	if !cfg.To.IsPrefix() {
		return nil
	}
	var cs []committer
	if cfg.TableManifests {
		cs = append(cs, &tableManifests{r: r})
	}
	if cfg.TableFormat == "iceberg" && r.inc == nil && !cfg.Shard.enabled() { // a sharded run's tables: the merge commits them
		cs = append(cs, icebergCommitter{r})
	}
	cs = append(cs, &manifestCommitter{r: r})
	if cfg.Resume {
		cs = append(cs, journalEnd{r})
	}
	if r.inc != nil {
		cs = append(cs, stateCommitter{r})
	}
	if cfg.TableFormat == "iceberg" && r.inc != nil {
		// After the state: of two runs from the same run, the one whose state lost commits no
		// table, and a table a run did not commit is caught up by the next (icebergSince).
		cs = append(cs, icebergCommitter{r})
	}
	if cfg.CleanPath {
		cs = append(cs, cleanPathCommitter{r})
	}
	return cs
}

// commit runs the committers. When one fails before the run counts, those before it are undone
// in reverse order and the run fails like any other (fail deletes its objects); after, the error
// is returned as it is. An attempt that lost a resume's race leaves everything in place.
func (r *run) commit(ctx context.Context, m *Manifest, completed []Object) (*Manifest, error) {
	var done []committer
	counted := false
	for _, c := range r.committers() {
		err := c.commit(ctx, m)
		if err == nil {
			done = append(done, c)
			counted = counted || c.counts()
			continue
		}
		var race *ResumeRaceError
		var partial *IcebergCommitError // some tables hold the run's files now
		if counted || errors.As(err, &race) || errors.As(err, &partial) {
			return nil, err
		}
		for i := len(done) - 1; i >= 0; i-- {
			if uerr := done[i].undo(ctx); uerr != nil {
				err = fmt.Errorf("%w; %v", err, uerr)
			}
		}
		return nil, r.fail(ctx, completed, err)
	}
	return m, nil
}

// deleteAll deletes the objects at urls, and says which it could not delete.
func (r *run) deleteAll(ctx context.Context, what string, urls []string) error {
	var left []string
	for _, u := range urls {
		if err := r.delete(ctx, Object{URL: u}); err != nil {
			left = append(left, u)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("deleting the run's %s failed for %s", what, strings.Join(left, " "))
	}
	return nil
}

// tableManifests writes each table's own manifest beside the run's (Redshift's presets load a
// table from it).
type tableManifests struct {
	r       *run
	written []string
}

func (c *tableManifests) commit(ctx context.Context, m *Manifest) error {
	for _, t := range c.r.tables {
		u := TableManifestURL(*c.r.cfg.To.S3, t.Schema, t.Name)
		if err := m.forTable(t.String()).write(ctx, c.r.store, u, c.r.cfg.sideOptions()); err != nil {
			return err
		}
		c.written = append(c.written, u.String())
	}
	return nil
}

func (c *tableManifests) undo(ctx context.Context) error {
	return c.r.deleteAll(ctx, "table manifests", c.written)
}
func (c *tableManifests) counts() bool   { return false }
func (c *tableManifests) String() string { return "each table's manifest" }

// manifestCommitter writes the run's manifest: its presence says the run is whole. A resumable
// run writes it conditionally, so that of two attempts that finish at once one writes it.
type manifestCommitter struct {
	r       *run
	written bool
}

func (c *manifestCommitter) commit(ctx context.Context, m *Manifest) error {
	o := c.r.cfg.sideOptions()
	o.NoClobber = c.r.cfg.Resume
	if err := m.write(ctx, c.r.store, c.r.manifestURL, o); err != nil {
		var ee *upload.ExistsError
		if errors.As(err, &ee) {
			return &ResumeRaceError{Manifest: c.r.manifestURL.String()}
		}
		return err
	}
	c.written, m.URL = true, c.r.manifestURL.String()
	return nil
}

func (c *manifestCommitter) undo(ctx context.Context) error {
	if !c.written {
		return nil
	}
	return c.r.deleteAll(ctx, "manifest", []string{c.r.manifestURL.String()})
}

// counts: an incremental run counts from its state, which comes after.
func (c *manifestCommitter) counts() bool   { return c.r.inc == nil }
func (c *manifestCommitter) String() string { return "the manifest " + c.r.manifestURL.String() }

// journalEnd ends a resumable run's journal (see endJournal); what it cannot remove is a warning.
type journalEnd struct{ r *run }

func (c journalEnd) commit(ctx context.Context, _ *Manifest) error { c.r.endJournal(ctx); return nil }
func (c journalEnd) undo(context.Context) error                    { return nil }
func (c journalEnd) counts() bool                                  { return false }
func (c journalEnd) String() string                                { return "the end of the resume journal" }

// stateCommitter writes an incremental run's state (see commitRun): from then on the run counts.
type stateCommitter struct{ r *run }

func (c stateCommitter) commit(ctx context.Context, _ *Manifest) error { return c.r.commitRun(ctx) }
func (c stateCommitter) undo(context.Context) error                    { return nil }
func (c stateCommitter) counts() bool                                  { return true }
func (c stateCommitter) String() string                                { return "the incremental run's state" }

// cleanPathCommitter deletes what earlier runs left under the prefix (see cleanPath).
type cleanPathCommitter struct{ r *run }

func (c cleanPathCommitter) commit(ctx context.Context, m *Manifest) error {
	return c.r.cleanPath(ctx, m)
}
func (c cleanPathCommitter) undo(context.Context) error { return nil }
func (c cleanPathCommitter) counts() bool               { return true }
func (c cleanPathCommitter) String() string {
	return "the clean path: what earlier runs left under the prefix is deleted"
}
