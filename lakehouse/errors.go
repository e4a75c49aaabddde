package lakehouse

import "fmt"

// SchemaChangeError is a table whose current schema is not the export's columns.
type SchemaChangeError struct {
	Table     string
	Version   int
	Had, Want string
}

func (e *SchemaChangeError) Error() string {
	return fmt.Sprintf("Iceberg table %s (metadata version %d) has other columns than the export: schema evolution is not supported yet "+
		"(the table has %s; the export has %s)", e.Table, e.Version, e.Had, e.Want)
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
