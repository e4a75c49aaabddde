package command

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Typo suggestions for commands and flags ("did you mean --table?"). Only near names are offered:
// within a small edit distance, or a name the typed word begins (--part for --part-size). A
// suggestion is never acted on; the call still fails with exit status 2.

// closest returns the candidates nearest to typed (several when they are equally near), or none
// when none is near enough.
func closest(typed string, candidates []string) []string {
	var best []string
	bestD := 1 << 30
	limit := max(1, len(typed)/3)
	for _, c := range candidates {
		d := editDistance(typed, c)
		if len(typed) >= 3 && strings.HasPrefix(c, typed) {
			d = min(d, 1)
		}
		switch {
		case d > limit || d > bestD || slices.Contains(best, c):
		case d < bestD:
			best, bestD = []string{c}, d
		default:
			best = append(best, c)
		}
	}
	return best
}

// either words suggestions: "a", "a or b", "a, b or c".
func either(words []string, quote func(string) string) string {
	var q []string
	for _, w := range words {
		q = append(q, quote(w))
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// editDistance is the optimal string alignment distance: insertions, deletions, substitutions
// and transpositions of neighbours each cost one.
func editDistance(a, b string) int {
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// suggestFlag adds "did you mean" to urfave/cli's "flag provided but not defined: -tabel".
func suggestFlag(cmd *cli.Command, err error) error {
	const undefined = "flag provided but not defined: "
	msg := err.Error()
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return badValue(cmd, m[2], m[1])
	}
	if cmd == nil || !strings.HasPrefix(msg, undefined) {
		return err
	}
	typed := strings.TrimLeft(strings.TrimPrefix(msg, undefined), "-")
	var names []string
	for _, f := range cmd.Flags {
		names = append(names, f.Names()...)
	}
	if s := closest(typed, names); len(s) > 0 {
		return fmt.Errorf("%w (did you mean %s?)", err, either(s, dashed))
	}
	return err
}

// invalidValue is the flag package's error for a value its flag type cannot parse.
var invalidValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-([^:]+): `)

// badValue words a value the flag's type cannot parse as every other flag error is worded: the
// flag as typed (two dashes), the value, and the form it wants.
func badValue(cmd *cli.Command, name, quoted string) error {
	value, err := strconv.Unquote(quoted)
	if err != nil {
		value = quoted
	}
	want := "a valid value"
	var f cli.Flag
	if cmd != nil {
		if i := slices.IndexFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) }); i >= 0 {
			f = cmd.Flags[i]
		}
	}
	switch f.(type) {
	case *cli.DurationFlag:
		want = "a duration such as 90s, 15m or 24h (units: ms, s, m, h)"
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		want = "a whole number"
	case *cli.Float64Flag:
		want = "a number"
	case *cli.BoolFlag:
		want = "true or false"
	}
	return fmt.Errorf("%s %s: not %s", dashed(name), value, want)
}

func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownCommand is the error for `pg2s3 exprt`.
func unknownCommand(app *cli.App, typed string) error {
	var names []string
	for _, c := range app.VisibleCommands() {
		names = append(names, c.Names()...)
	}
	if s := closest(typed, names); len(s) > 0 {
		return usagef("unknown command %q (did you mean %s?)", typed, either(s, strconv.Quote))
	}
	return usagef("unknown command %q; the commands are %s", typed, strings.Join(names, ", "))
}

// unknownSubcommand is the error for `pg2s3 manifest mrege`.
func unknownSubcommand(cmd *cli.Command, typed string) error {
	var names []string
	for _, c := range cmd.Subcommands {
		names = append(names, c.Names()...)
	}
	if s := closest(typed, names); len(s) > 0 {
		return usagef("unknown command %q of pg2s3 %s (did you mean %s?)", typed, cmd.Name, either(s, strconv.Quote))
	}
	return usagef("unknown command %q of pg2s3 %s; its commands are %s", typed, cmd.Name, strings.Join(names, ", "))
}
