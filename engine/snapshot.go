package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/sink"
	"github.com/pg2s3/pg2s3/upload"
)

// Snapshot is the instant every object shows.
type Snapshot struct {
	ID               string `json:"id"`
	Time             string `json:"time"`
	ServerVersion    string `json:"server_version"`
	ServerVersionNum int    `json:"-"`
	BlockSize        int64  `json:"-"`
}

// openSnapshot starts the coordinator's transaction and exports its snapshot, or, given the ID of a
// snapshot another process holds, joins that one.
func openSnapshot(ctx context.Context, conn *pgconn.PgConn, join string) (Snapshot, error) {
	if err := copyout.Begin(ctx, conn, join); err != nil {
		return Snapshot{}, err
	}
	id := "pg_export_snapshot()"
	if join != "" {
		id = copyout.QuoteLiteral(join)
	}
	res := conn.ExecParams(ctx, `SELECT `+id+`, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		current_setting('server_version'), current_setting('server_version_num')::int, current_setting('block_size')::bigint`, nil, nil, nil, nil).Read()
	if res.Err != nil {
		return Snapshot{}, fmt.Errorf("exporting the snapshot: %w", res.Err)
	}
	r := res.Rows[0]
	s := Snapshot{ID: string(r[0]), Time: string(r[1]), ServerVersion: string(r[2])}
	s.ServerVersionNum, _ = strconv.Atoi(string(r[3]))
	s.BlockSize, _ = strconv.ParseInt(string(r[4]), 10, 64)
	return s, nil
}

// HoldSnapshot opens a REPEATABLE READ transaction, exports its snapshot, calls ready with the
// snapshot's ID, and holds the snapshot until ctx is done: other processes (Config.Snapshot with
// Config.Shard) join it meanwhile. An error from ready releases the snapshot and is returned.
func HoldSnapshot(ctx context.Context, conn copyout.Conn, ready func(id string) error) error {
	pgcfg, err := conn.Config()
	if err != nil {
		return err
	}
	pgcfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0" // it is idle in a transaction on purpose
	pc, err := copyout.Connect(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer closeConn(ctx, pc)
	snap, err := openSnapshot(ctx, pc, "")
	if err != nil {
		return err
	}
	if err := ready(snap.ID); err != nil {
		copyout.Commit(context.WithoutCancel(ctx), pc)
		return err
	}
	<-ctx.Done()
	return copyout.Commit(context.WithoutCancel(ctx), pc)
}

// ShardManifests lists the shards' manifests under prefix (manifest-shard-I-of-N.json).
func ShardManifests(ctx context.Context, client *s3.Client, prefix upload.URL) ([]string, error) {
	var out []string
	err := upload.SmallObjects{Client: client}.List(ctx, prefix.Join("manifest-shard-"), "list the shards' manifests", func(k string) bool {
		if rel := strings.TrimPrefix(k, prefix.Key); shardManifest.MatchString(rel) {
			out = append(out, prefix.Join(rel).String())
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no shard manifest (manifest-shard-I-of-N.json) under %s", prefix)
	}
	return out, nil
}

var shardManifest = regexp.MustCompile(`^manifest-shard-[0-9]+-of-[0-9]+\.json$`)

// Merge joins the manifests of the shards of one run (all under one snapshot) into one, written to
// to. Every shard i/N must be there, once. Tables keep their kind and columns.
func Merge(ctx context.Context, client *s3.Client, urls []string, to upload.URL) (*Manifest, error) {
	var out *Manifest
	seen := map[int]string{}
	count := 0
	st := upload.SmallObjects{Client: client}
	for _, u := range urls {
		loc, err := upload.ParseObject(u)
		if err != nil {
			return nil, err
		}
		b, found, err := st.Read(ctx, loc, 64<<20)
		if err == nil && !found {
			err = fmt.Errorf("no manifest at %s", u)
		}
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s is not a pg2s3 manifest: %w", u, err)
		}
		if m.Shard == nil {
			return nil, fmt.Errorf("%s is not a shard's manifest (no shard field)", u)
		}
		if prev, dup := seen[m.Shard.Index]; dup {
			return nil, fmt.Errorf("shard %d/%d appears twice: %s and %s", m.Shard.Index, m.Shard.Count, prev, u)
		}
		seen[m.Shard.Index] = u
		if out == nil {
			out, count = &m, m.Shard.Count
			continue
		}
		if m.Snapshot.ID != out.Snapshot.ID || m.Shard.Count != count {
			return nil, fmt.Errorf("%s is from another run (snapshot %s, %d shards; the first manifest has snapshot %s, %d shards)",
				u, m.Snapshot.ID, m.Shard.Count, out.Snapshot.ID, count)
		}
		out.Objects = append(out.Objects, m.Objects...)
		for _, t := range m.Tables {
			if !slices.ContainsFunc(out.Tables, func(o ManifestTable) bool { return o.Name == t.Name }) {
				out.Tables = append(out.Tables, t)
			}
		}
		out.Seconds = max(out.Seconds, m.Seconds)
	}
	if out == nil {
		return nil, errors.New("no manifest to merge")
	}
	var missing []string
	for i := 0; i < count; i++ {
		if _, ok := seen[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, count))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shards missing: %s", strings.Join(missing, ", "))
	}
	out.Shard = nil
	out.recount()
	if err := mergeIceberg(ctx, client, out); err != nil { // the tables before the manifest that lists them
		return nil, err
	}
	if err := out.write(ctx, st, to, upload.Options{Object: upload.ObjectOptions{ContentType: "application/json"}}); err != nil {
		return nil, err
	}
	out.URL = to.String()
	return out, nil
}

// The ID of a held snapshot can be published where the processes that join it read it: an S3
// object or a file (PublishSnapshotID, Config.SnapshotFrom), so that a Kubernetes Job's
// pods, say, need no other channel. It is written with a conditional write: a second holder (a
// restarted pod, with a snapshot of another instant) fails instead of replacing the first's ID.

// PublishSnapshotID writes id to d, refusing to replace what is there, and returns a function that
// removes it (when the snapshot is released, the ID means nothing any more).
func PublishSnapshotID(ctx context.Context, client *s3.Client, d Destination, id string) (remove func(context.Context) error, err error) {
	body := id + "\n"
	switch {
	case d.S3 != nil && !d.S3.IsPrefix():
		u := *d.S3
		exists, err := putNew(ctx, upload.SmallObjects{Client: client}, u, []byte(body), upload.Options{Object: upload.ObjectOptions{ContentType: "text/plain"}})
		if err == nil && exists {
			err = &upload.ExistsError{Bucket: u.Bucket, Key: u.Key}
		}
		if err != nil {
			return nil, fmt.Errorf("publishing the snapshot ID to %s: %w", u, err)
		}
		return func(ctx context.Context) error { return upload.SmallObjects{Client: client}.Remove(ctx, u) }, nil
	case d.Path != "":
		err := sink.WriteFile(ctx, sink.File{Path: d.Path, NoClobber: true}, func(w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("publishing the snapshot ID to %s: %w", d.Path, err)
		}
		return func(context.Context) error { return os.Remove(d.Path) }, nil
	}
	return nil, &ConfigError{Name: "SnapshotTo", Value: d.Raw, Reason: "give s3://bucket/key or a file path"}
}

// readSnapshotID reads the ID PublishSnapshotID wrote.
func readSnapshotID(ctx context.Context, client *s3.Client, d Destination) (string, error) {
	var b []byte
	switch {
	case d.S3 != nil && !d.S3.IsPrefix():
		var found bool
		var err error
		if b, found, err = (upload.SmallObjects{Client: client}).Read(ctx, *d.S3, 1024); err != nil {
			return "", fmt.Errorf("reading the snapshot ID: %w", err)
		}
		if !found {
			return "", &NoSnapshotIDError{From: d.Raw}
		}
	case d.Path != "":
		var err error
		if b, err = os.ReadFile(d.Path); errors.Is(err, fs.ErrNotExist) {
			return "", &NoSnapshotIDError{From: d.Raw}
		} else if err != nil {
			return "", fmt.Errorf("reading the snapshot ID: %w", err)
		}
	default:
		return "", &ConfigError{Name: "SnapshotFrom", Value: d.Raw, Reason: "give s3://bucket/key or a file path"}
	}
	id := strings.TrimSpace(string(b))
	if !snapshotID.MatchString(id) {
		return "", fmt.Errorf("%s holds %q, not a snapshot ID as a snapshot's holder publishes it", d.Raw, id)
	}
	return id, nil
}
