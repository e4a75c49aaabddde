package command

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Set at release time with -ldflags "-X github.com/pg2s3/pg2s3/command.Version=v1.2.3
// -X github.com/pg2s3/pg2s3/command.BuildDate=2026-12-02T12:00:00Z" (.goreleaser.yaml does).
// Without them, the module version and the VCS stamp Go writes into every build are used.
var (
	Version   = ""
	BuildDate = ""
)

// buildInfo is what `pg2s3 version` prints: where the binary comes from.
type buildInfo struct {
	Version    string `json:"version"`               // module version: a tag, a pseudo-version, or (devel)
	Revision   string `json:"revision,omitempty"`    // VCS commit the binary was built from
	CommitTime string `json:"commit_time,omitempty"` // that commit's time (vcs.time)
	Modified   bool   `json:"modified,omitempty"`    // built from a work tree with uncommitted changes
	BuildDate  string `json:"build_date,omitempty"`  // set by the release build; empty otherwise
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, BuildDate: BuildDate, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		b.Version = cmp.Or(b.Version, "unknown")
		return b
	}
	b.Version = cmp.Or(b.Version, bi.Main.Version, "(devel)")
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func (b buildInfo) String() string {
	s := "pg2s3 " + b.Version + "\n"
	if b.Revision != "" {
		mod := ""
		if b.Modified {
			mod = " (with uncommitted changes)"
		}
		s += fmt.Sprintf("  revision:    %s%s\n", b.Revision, mod)
	}
	if b.CommitTime != "" {
		s += "  commit time: " + b.CommitTime + "\n"
	}
	s += "  build date:  " + cmp.Or(b.BuildDate, "not recorded (not a release build)") + "\n"
	return s + "  go:          " + b.Go + " " + b.Platform + "\n"
}

func printVersion(w io.Writer, asJSON bool) error {
	b := readBuildInfo()
	if asJSON {
		j, _ := json.Marshal(b)
		_, err := fmt.Fprintf(w, "%s\n", j)
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func versionCommand(stdout io.Writer) *cli.Command {
	return command("version", "print the version, the VCS revision and the build date (also: --version)",
		"pg2s3 version [--json]", "",
		[]group{{"Output", []cli.Flag{boolean("json", "", "print it as one JSON object", "PG2S3_JSON")}}},
		func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unexpected argument %q", c.Args().First())
			}
			return printVersion(stdout, c.Bool("json"))
		})
}
