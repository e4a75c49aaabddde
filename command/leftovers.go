package command

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/upload"
)

// The libraries' errors that leave something to clean up carry what and where (the uploads, the
// objects, the store); the commands that clean it up are worded here, with the store's address
// as the failed run resolved it (--endpoint-url, --region, --profile, --ca-bundle), so that they
// work as printed from a shell whose environment points elsewhere.

// storeArgs is the store as options of pg2s3 and of the aws CLI, quoted for a POSIX shell; empty
// for AWS with the default chain.
func storeArgs(s upload.Store) string {
	var b strings.Builder
	for _, o := range [][2]string{{"--endpoint-url", s.Endpoint}, {"--region", s.Region}, {"--profile", s.Profile}, {"--ca-bundle", s.CABundle}} {
		if o[1] != "" {
			b.WriteString(" " + o[0] + " " + upload.ShellQuote(o[1]))
		}
	}
	return b.String()
}

// abortCommand aborts the incomplete uploads of one key. One per key, not one for a prefix:
// some stores (MinIO after a restart) list an incomplete upload only when asked for its exact key.
func abortCommand(bucket, key string, s upload.Store) string {
	cmd := fmt.Sprintf("pg2s3 cleanup %s --older-than 0s%s", upload.ShellQuote("s3://"+bucket+"/"+key), storeArgs(s))
	if s.PathStyle {
		cmd += " --path-style"
	}
	return cmd
}

// removeCommand deletes an object (with --recursive, what is under a prefix).
func removeCommand(url string, s upload.Store, recursive bool) string {
	cmd := "aws s3 rm " + upload.ShellQuote(url) + storeArgs(s)
	if recursive {
		cmd += " --recursive"
	}
	return cmd
}

// cleanupCommands is one command per key of uploads, then one per object.
func cleanupCommands(uploads []upload.Incomplete, objects []string, s upload.Store) string {
	var cmds []string
	seen := map[string]bool{}
	for _, u := range uploads {
		if !seen[u.Key] {
			seen[u.Key] = true
			cmds = append(cmds, abortCommand(u.Bucket, u.Key, s))
		}
	}
	for _, o := range objects {
		cmds = append(cmds, removeCommand(o, s, false))
	}
	return strings.Join(cmds, " && ")
}

// cleanupHint is what to run after err, to be printed after it ("" when nothing is left).
func cleanupHint(err error) string {
	var (
		le *engine.LeftoverError
		sg *engine.SnapshotGoneError
		ae *upload.AbortError
	)
	switch {
	case errors.As(err, &le):
		return "; remove them with: " + cleanupCommands(le.Uploads, le.Objects, le.Store)
	case errors.As(err, &sg):
		hint := "; to start again, delete the prefix with: " + removeCommand(sg.Prefix, sg.Store, true)
		if len(sg.Open) > 0 {
			hint += "; once no attempt runs, abort them with: " + cleanupCommands(sg.Open, nil, sg.Store)
		}
		return hint
	case errors.As(err, &ae):
		return fmt.Sprintf("; run `%s` (or aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s%s)",
			abortCommand(ae.Bucket, ae.Key, ae.Store), upload.ShellQuote(ae.Bucket), upload.ShellQuote(ae.Key),
			upload.ShellQuote(ae.UploadID), storeArgs(ae.Store))
	}
	return ""
}
