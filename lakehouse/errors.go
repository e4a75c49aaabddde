package lakehouse

import "fmt"

// SchemaChangeError is a column whose type changed in a way Iceberg does not allow.
type SchemaChangeError struct {
	Table, Column string
	From, To      string
	Reason        string
}

func (e *SchemaChangeError) Error() string {
	return fmt.Sprintf("Iceberg table %s, column %s: its type was %s and is %s now: %s", e.Table, e.Column, e.From, e.To, e.Reason)
}

// HintError is a commit that happened whose version hint could not be written: readers that
// follow the hint see the version before until a later commit writes it.
type HintError struct {
	Table   string
	Version int
	Err     error
}

func (e *HintError) Error() string {
	return fmt.Sprintf("Iceberg table %s is committed at metadata version %d, but writing its version-hint.text failed "+
		"(readers that follow the hint see the version before): %v", e.Table, e.Version, e.Err)
}

func (e *HintError) Unwrap() error { return e.Err }
