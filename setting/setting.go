// Package setting is how pg2s3's libraries (engine, copyout, upload) say that a setting is wrong:
// one error type for all of them, and one way to name a setting in a message, its Go name
// (Config.Resume, Options.InfinityExtremes). A library never names a command-line flag; the
// command line words these names as its own flags.
package setting

import "fmt"

// Error is a setting that cannot be used, found before anything runs (or, for a value only the
// run can see, as soon as it is seen).
type Error struct {
	Name   string // the setting: a field of the library's options ("MemoryLimit", "SSE"), or a COPY option ("DELIMITER")
	Value  string // "" when the setting's presence, not its value, is the problem
	Reason string
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s", e.Name, e.Value, e.Reason)
}
