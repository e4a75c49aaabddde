package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pg2s3/pg2s3/copyout"
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
// snapshot's ID, and holds the snapshot until ctx is done: other processes (export --snapshot ID
// --shard i/N) join it meanwhile.
func HoldSnapshot(ctx context.Context, conn copyout.Conn, ready func(id string)) error {
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
	ready(snap.ID)
	<-ctx.Done()
	return copyout.Commit(context.WithoutCancel(ctx), pc)
}

// Merge joins the manifests of the shards of one run (all under one snapshot) into one, written to
// to. Every shard i/N must be there, once. Tables keep their kind and columns.
func Merge(ctx context.Context, client *s3.Client, urls []string, to upload.URL) (*Manifest, error) {
	var out *Manifest
	seen := map[int]string{}
	count := 0
	for _, u := range urls {
		loc, err := upload.ParseObject(u)
		if err != nil {
			return nil, err
		}
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &loc.Bucket, Key: &loc.Key})
		if err != nil {
			return nil, &upload.Error{Op: "get manifest", Bucket: loc.Bucket, Key: loc.Key, Err: err}
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", u, err)
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
	if err := out.write(ctx, client, to, 0); err != nil {
		return nil, err
	}
	out.URL = to.String()
	return out, nil
}
