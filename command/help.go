package command

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// helpWidth is the widest line --help prints.
const helpWidth = 100

// helpTemplate is urfave/cli's command help with the options rendered here: grouped by category in
// the order the command lists them, each flag as its names, then its usage, default and variable
// wrapped within helpWidth columns.
func helpTemplate(groups []group) string {
	var b strings.Builder
	b.WriteString("NAME:\n   {{template \"helpNameTemplate\" .}}\n\nUSAGE:\n   {{template \"usageTemplate\" .}}" +
		"{{if .Description}}\n\nDESCRIPTION:\n   {{template \"descriptionTemplate\" .}}{{end}}\n\nOPTIONS:\n")
	for _, g := range groups {
		fmt.Fprintf(&b, "\n   %s\n\n", g.name)
		for _, f := range g.flags {
			b.WriteString(escapeTemplate(flagHelp(f)))
		}
	}
	b.WriteString("\n   --help, -h  show help\n")
	return b.String()
}

func escapeTemplate(s string) string {
	return strings.NewReplacer("{{", `{{"{{"}}`, "}}", `{{"}}"}}`).Replace(s)
}

// flagHelp renders one flag: "   --name VALUE, -n VALUE" and then the usage, the default and the
// environment variable on lines indented by eight columns.
func flagHelp(f cli.Flag) string {
	names, text := flagDoc(f)
	var b strings.Builder
	b.WriteString("   " + names + "\n")
	for _, line := range wrap(text, helpWidth-8) {
		b.WriteString("        " + line + "\n")
	}
	return b.String()
}

// flagDoc is what --help and the man page say of a flag: its names with the value's placeholder
// ("--to DEST, -o DEST"), and its usage with the default and the environment variables.
func flagDoc(f cli.Flag) (names, text string) {
	df := f.(cli.DocGenerationFlag)
	placeholder, usage := placeholderOf(df.GetUsage())
	var ns []string
	for _, n := range f.Names() {
		if df.TakesValue() {
			ns = append(ns, dashed(n)+" "+placeholder)
		} else {
			ns = append(ns, dashed(n))
		}
	}
	text = usage
	if def := df.GetDefaultText(); def != "" && def != `""` && def != "false" {
		text += " (default: " + strings.Trim(def, `"`) + ")"
	}
	if env := df.GetEnvVars(); len(env) > 0 {
		text += " [$" + strings.Join(env, ", $") + "]"
	}
	return strings.Join(ns, ", "), text
}

// placeholderOf takes the `NAME` out of a usage string, as urfave/cli does.
func placeholderOf(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i >= 0 {
		if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
			name := usage[i+1 : i+1+j]
			return name, usage[:i] + name + usage[i+2+j:]
		}
	}
	return "VALUE", usage
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
