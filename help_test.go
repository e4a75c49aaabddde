package main

import (
	"slices"
	"strings"
	"testing"
)

// commandsOf reads the COMMANDS section of pg2s3 --help.
func commandsOf(t *testing.T, help string) []string {
	t.Helper()
	_, section, ok := strings.Cut(help, "COMMANDS:\n")
	if !ok {
		t.Fatalf("pg2s3 --help has no COMMANDS section:\n%s", help)
	}
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		names = append(names, strings.Fields(line)[0])
	}
	return names
}

// Every way a person asks for help answers on stdout with exit 0 and nothing on stderr: pg2s3
// --help printed nothing and exited 2 once, and the test of it passed on empty output.
func TestEveryHelpSurface(t *testing.T) {
	top := pg2s3(t, nil, "--help")
	if top.code != 0 || top.stdout == "" || top.stderr != "" {
		t.Fatalf("pg2s3 --help: exit %d, %d bytes on stdout, stderr %q", top.code, len(top.stdout), top.stderr)
	}
	commands := commandsOf(t, top.stdout)
	want := []string{"export", "plan", "snapshot", "manifest", "runs", "cleanup", "bench", "version", "completion", "man", "help"}
	if !slices.Equal(commands, want) {
		t.Fatalf("pg2s3 --help lists the commands %v; this test covers %v: add the new ones below", commands, want)
	}
	surfaces := [][]string{{"--help"}, {"-h"}, {"help"}, {"--version"}, {"version"}, {"manifest", "merge", "--help"},
		{"manifest", "merge", "-h"}, {"help", "manifest", "merge"}}
	for _, c := range commands {
		surfaces = append(surfaces, []string{c, "--help"}, []string{c, "-h"}, []string{"help", c})
	}
	for _, args := range surfaces {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := pg2s3(t, nil, args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) == "" || r.stderr != "" {
				t.Fatalf("exit %d, %d bytes on stdout, stderr %q", r.code, len(r.stdout), r.stderr)
			}
			if args[len(args)-1] == "--help" || args[len(args)-1] == "-h" || args[0] == "help" {
				if !strings.Contains(r.stdout, "USAGE:") {
					t.Errorf("no USAGE section:\n%s", r.stdout)
				}
			}
		})
	}
	// pg2s3 alone shows the same help, but did nothing: a script that lost its arguments must not see
	// success.
	r := pg2s3(t, nil)
	if r.code != 2 || !strings.Contains(r.stdout, "COMMANDS:") || !strings.Contains(r.stderr, "no command given") {
		t.Errorf("pg2s3 alone: exit %d (want 2), stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
