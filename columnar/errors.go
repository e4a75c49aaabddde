package columnar

import "fmt"

// ValueError is a value the Parquet type of its column cannot hold, or that did not decode.
type ValueError struct {
	Where  string
	Row    int64
	Column string
	PGType string
	Err    error
}

func (e *ValueError) Error() string {
	where := ""
	if e.Where != "" {
		where = e.Where + ", "
	}
	return fmt.Sprintf("%srow %d, column %q (%s): %v", where, e.Row, e.Column, e.PGType, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }
