package command

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// The manual page, in roff, made from the same commands and flag definitions as --help and the
// completion scripts: every flag with its value, default and environment variable, grouped as in
// --help.

func manCommand(app func() *cli.App, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:        "man",
		Usage:       "print the manual page (roff), made from the same flag definitions as --help",
		UsageText:   "pg2s3 man > pg2s3.1 && man ./pg2s3.1",
		Description: "Install it with: pg2s3 man | gzip > /usr/local/share/man/man1/pg2s3.1.gz",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unexpected argument %q", c.Args().First())
			}
			_, err := io.WriteString(stdout, manPage(app()))
			return err
		},
	}
}

// roff escapes text for a roff line: backslashes, and a leading dot or quote that roff would read
// as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, " ")
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// roffFlag is a flag's name in bold, with roff's minus signs.
func roffFlag(s string) string { return `\fB` + strings.ReplaceAll(s, "-", `\-`) + `\fR` }

func manPage(app *cli.App) string {
	var b strings.Builder
	date := time.Now().UTC().Format("2006-01-02")
	if bi := readBuildInfo(); bi.CommitTime != "" {
		date = bi.CommitTime[:min(10, len(bi.CommitTime))] // the same page for the same commit
	}
	fmt.Fprintf(&b, ".TH PG2S3 1 %q %q \"pg2s3 manual\"\n", date, "pg2s3 "+readBuildInfo().Version)
	fmt.Fprintf(&b, ".SH NAME\npg2s3 \\- %s\n", roff(app.Usage))
	b.WriteString(".SH SYNOPSIS\n")
	for _, c := range app.VisibleCommands() {
		if c.Name == "help" {
			continue
		}
		fmt.Fprintf(&b, ".B pg2s3 %s\n.RI [ flags ]\n.br\n", c.Name)
	}
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", roff(app.Description))
	b.WriteString(".SH COMMANDS\n")
	var envs []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			full := strings.TrimSpace(prefix + " " + c.Name)
			fmt.Fprintf(&b, ".SS \"pg2s3 %s\"\n%s.\n", full, roff(c.Usage))
			if c.UsageText != "" {
				fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roff(c.UsageText))
			}
			if c.Description != "" {
				fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roff(c.Description))
			}
			category := "\x00"
			for _, f := range c.Flags {
				df, ok := f.(cli.DocGenerationFlag)
				if !ok {
					continue
				}
				if cat := categoryOf(f); cat != category {
					category = cat
					if cat != "" {
						fmt.Fprintf(&b, ".PP\n.I %s\n", roff(cat))
					}
				}
				names, text := flagDoc(f)
				fmt.Fprintf(&b, ".TP\n%s\n%s", roffFlag(names), roff(text))
				envs = append(envs, df.GetEnvVars()...)
				b.WriteString("\n")
			}
			walk(full, c.Subcommands)
		}
	}
	walk("", app.Commands)
	b.WriteString(".SH ENVIRONMENT\nEvery flag can be set from the environment variable named beside it above:\n.PP\n")
	slices.Sort(envs)
	fmt.Fprintf(&b, "%s\n", roff(strings.Join(slices.Compact(envs), ", ")))
	b.WriteString(".PP\nThe PostgreSQL connection also reads the libpq variables " +
		"(PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...) and ~/.pgpass, as psql(1) does; " +
		"S3 reads the AWS SDK's default chain (AWS_* variables, ~/.aws/config and ~/.aws/credentials profiles, " +
		"SSO, web identity, instance roles), as aws(1) does.\n")
	b.WriteString(".SH \"EXIT STATUS\"\n.TP\n0\ndone\n.TP\n1\nthe export failed; nothing was published\n" +
		".TP\n2\nusage error; nothing was run\n.TP\n130, 143\ninterrupted by SIGINT or SIGTERM; the uploads were aborted\n")
	b.WriteString(".SH \"SEE ALSO\"\npsql(1), pg_dump(1), aws(1)\n")
	return b.String()
}

func categoryOf(f cli.Flag) string {
	if c, ok := f.(cli.CategorizableFlag); ok {
		return c.GetCategory()
	}
	return ""
}
