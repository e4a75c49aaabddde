// Package command is pg2s3's command line: one file per command, flags declared once in shared
// groups (flags.go) and read by one set of parsers (parse.go) into the option structs that package
// engine takes. It words the libraries' typed errors for a person at a shell, and maps them to exit
// codes; nothing below Run exits.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailed    = 1   // the export failed; nothing was published
	exitUsage     = 2   // bad flags or arguments; nothing was run
	exitInterrupt = 128 // plus the signal number: 130 for SIGINT, 143 for SIGTERM
)

// Interrupted is the cancellation cause when a signal stops the run.
type Interrupted struct{ Signal syscall.Signal }

func (i *Interrupted) Error() string {
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[i.Signal]
	if name == "" {
		name = i.Signal.String()
	}
	return "received " + name
}

// usageError marks errors in how pg2s3 was called (exit status 2).
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// Version is set with -ldflags "-X github.com/pg2s3/pg2s3/command.Version=..."; otherwise the
// module version is used.
var Version = ""

// Run runs pg2s3 with args (os.Args) and returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "pg2s3: error: %s\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'pg2s3 --help' or 'pg2s3 COMMAND --help' for usage.")
		return exitUsage
	}
	var in *Interrupted
	if errors.As(err, &in) || errors.As(context.Cause(ctx), &in) {
		return exitInterrupt + int(in.Signal)
	}
	return exitFailed
}

func newApp(stdout, stderr io.Writer) *cli.App {
	v := Version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			v = bi.Main.Version
		}
	}
	onUsage := func(_ *cli.Context, err error, _ bool) error { return &usageError{err} }
	// -v is --verbose under the commands; before a command it is refused rather than read as
	// --version, which would exit 0 without exporting anything.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	cmds := []*cli.Command{
		exportCommand(stdout, stderr),
		planCommand(stdout, stderr),
		snapshotCommand(stdout, stderr),
		manifestCommand(stdout, stderr),
		cleanupCommand(stdout, stderr),
		benchCommand(stdout, stderr),
		benchWorkerCommand(stdout),
	}
	for _, c := range cmds {
		c.OnUsageError = onUsage
		for _, s := range c.Subcommands {
			s.OnUsageError = onUsage
		}
	}
	return &cli.App{
		Name:      "pg2s3",
		Usage:     "export PostgreSQL queries and tables to S3 with COPY, streaming",
		Version:   v,
		Writer:    stdout,
		ErrWriter: stderr,
		Description: "pg2s3 sends COPY (query) TO STDOUT over PostgreSQL's wire protocol and streams the CSV the\n" +
			"server generates into S3 objects. No row is decoded; memory stays bounded.\n\n" +
			"Exit status: 0 done; 1 the export failed (nothing was published); 2 usage error;\n" +
			"130/143 interrupted by SIGINT/SIGTERM (uploads were aborted).",
		HideHelpCommand: true,
		OnUsageError:    onUsage,
		ExitErrHandler:  func(*cli.Context, error) {}, // Run maps errors to exit codes; nothing exits early
		CommandNotFound: func(c *cli.Context, name string) {},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return usagef("no command given")
		},
		Commands: cmds,
	}
}

// command builds a command whose flags come from groups, with its help grouped the same way.
func command(name, usage, usageText, description string, groups []group, action cli.ActionFunc) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, UsageText: usageText, Description: description,
		Flags: flagsOf(groups...), Action: action,
		CustomHelpTemplate: helpTemplate(groups),
	}
}

// flagsFirst moves a command's positional arguments after its flags, so that
// `pg2s3 cleanup s3://b/p --dry-run` works: urfave/cli v2 stops parsing flags at the first
// positional argument.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.Name == args[1] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	head := 2
	if len(cmd.Subcommands) > 0 && len(args) > 2 { // pg2s3 manifest merge ...
		for _, sub := range cmd.Subcommands {
			if sub.Name == args[2] {
				cmd, head = sub, 3
			}
		}
		if head == 2 {
			return args
		}
	}
	isBool := map[string]bool{"help": true, "h": true}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				isBool[n] = true
			}
		}
	}
	flags, positional := []string{}, []string{}
	rest := args[head:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !isBool[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append(slices.Clone(args[:head]), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}
