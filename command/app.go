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

// Run runs pg2s3 with args (os.Args) and returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, flagsFirst(app, oldSpellings(app, args, stderr)))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "pg2s3: error: %s%s\n", settingWords.Replace(err.Error()), cleanupHint(err))
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
	onUsage := func(c *cli.Context, err error, _ bool) error { return &usageError{suggestFlag(c.Command, err)} }
	// -v is --verbose under the commands; before a command it is refused rather than read as
	// --version, which would exit 0 without exporting anything.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, the VCS revision and the build date"}
	cli.VersionPrinter = func(c *cli.Context) { printVersion(c.App.Writer, false) }
	var app *cli.App
	self := func() *cli.App { return app }
	cmds := []*cli.Command{
		exportCommand(stdout, stderr),
		planCommand(stdout, stderr),
		snapshotCommand(stdout, stderr),
		manifestCommand(stdout, stderr),
		runsCommand(stdout, stderr),
		cleanupCommand(stdout, stderr),
		benchCommand(stdout, stderr),
		versionCommand(stdout),
		completionCommand(self, stdout),
		manCommand(self, stdout),
		helpCommand(self),
		benchWorkerCommand(stdout),
	}
	for _, c := range cmds {
		c.OnUsageError = onUsage
		for _, s := range c.Subcommands {
			s.OnUsageError = onUsage
		}
	}
	app = &cli.App{
		Name:      "pg2s3",
		Usage:     "export PostgreSQL queries and tables to S3 with COPY, streaming",
		Version:   readBuildInfo().Version,
		Writer:    stdout,
		ErrWriter: stderr,
		Description: "pg2s3 sends COPY (query) TO STDOUT over PostgreSQL's wire protocol and streams the CSV the\n" +
			"server generates into S3 objects. No row is decoded; memory stays bounded.\n\n" +
			"Exit status: 0 done; 1 the export failed (nothing was published); 2 usage error;\n" +
			"130/143 interrupted by SIGINT/SIGTERM (uploads were aborted).",
		HideHelpCommand: true, // helpCommand instead: it knows subcommands (pg2s3 help manifest merge)
		OnUsageError:    onUsage,
		ExitErrHandler:  func(*cli.Context, error) {}, // Run maps errors to exit codes; nothing exits early
		CommandNotFound: func(c *cli.Context, name string) {},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return unknownCommand(c.App, c.Args().First())
			}
			cli.ShowAppHelp(c)
			return usagef("no command given")
		},
		Commands: cmds,
		// The help command is ours (it knows subcommands), and urfave/cli adds the app's --help/-h
		// only when no command is named help: so it is declared here.
		Flags: []cli.Flag{cli.HelpFlag},
	}
	return app
}

// helpCommand is `pg2s3 help [COMMAND [SUBCOMMAND]]`: exactly what `pg2s3 COMMAND --help` prints.
func helpCommand(app func() *cli.App) *cli.Command {
	return &cli.Command{
		Name: "help", Usage: "show the help of a command (the same as pg2s3 COMMAND --help)", UsageText: "pg2s3 help [COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			if app().Command(args[0]) == nil {
				return unknownCommand(app(), args[0])
			}
			return app().RunContext(c.Context, append(append([]string{"pg2s3"}, args...), "--help"))
		},
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
			if !strings.Contains(name, "=") && !isBoolFlag(cmd, name) && i+1 < len(rest) {
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

// oldSpellings keeps the short flags that scripts may use working after they changed: -q was
// --query before it became --quiet (as in psql, the aws CLI and rclone). `-q SQL` (a value that is
// not a flag) is still read as --query, with a note on stderr; a bare -q is --quiet. The commands
// that take -q take no positional arguments, so the two cannot be confused.
func oldSpellings(app *cli.App, args []string, stderr io.Writer) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil || !hasFlagNamed(cmd, "query") {
		return args
	}
	out := slices.Clone(args)
	for i := 2; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--":
			return out
		case a == "-q" && i+1 < len(out) && !strings.HasPrefix(out[i+1], "-"):
			out[i] = "--query"
			fmt.Fprintln(stderr, "pg2s3: note: -q SQL is the old spelling of --query (now -c); -q alone is --quiet, as in psql")
			i++
		case strings.HasPrefix(a, "-q="):
			out[i] = "--query=" + strings.TrimPrefix(a, "-q=")
			fmt.Fprintln(stderr, "pg2s3: note: -q=SQL is the old spelling of --query (now -c); -q alone is --quiet, as in psql")
		case strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && !isBoolFlag(cmd, strings.TrimLeft(a, "-")):
			i++ // the flag's value, whatever it looks like
		}
	}
	return out
}

func hasFlagNamed(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// isBoolFlag says whether name is a boolean flag of cmd (or help), which takes no value; any other
// flag is read with the argument after it.
func isBoolFlag(cmd *cli.Command, name string) bool {
	if name == "help" || name == "h" {
		return true
	}
	for _, f := range cmd.Flags {
		if _, ok := f.(*cli.BoolFlag); ok && slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}
