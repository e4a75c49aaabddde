package copyout

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// QueryError is an error the server raised for the COPY: at once (bad SQL, a missing table, no
// privilege) or mid-stream (division by zero at row 900,000, statement_timeout).
type QueryError struct {
	PgErr *pgconn.PgError
	Stmt  Statement
}

func (e *QueryError) Error() string {
	msg := describePgError(e.PgErr)
	if e.PgErr.Position > 0 && e.Stmt.Query != "" {
		if at := pointAt(e.Stmt.Query, int(e.PgErr.Position)-e.Stmt.QueryOffset); at != "" {
			msg += "\n" + at
		}
	}
	return msg
}

func (e *QueryError) Unwrap() error { return e.PgErr }

func describePgError(pe *pgconn.PgError) string {
	sev := pe.Severity
	if sev == "" {
		sev = "ERROR"
	}
	msg := fmt.Sprintf("%s: %s (SQLSTATE %s)", sev, pe.Message, pe.Code)
	if pe.Detail != "" {
		msg += "\nDETAIL: " + pe.Detail
	}
	if pe.Hint != "" {
		msg += "\nHINT: " + pe.Hint
	}
	if pe.Where != "" {
		msg += "\nCONTEXT: " + pe.Where
	}
	return msg
}

// pointAt shows the line of query holding character pos (1-based) with a caret under it.
func pointAt(query string, pos int) string {
	runes := []rune(query)
	if pos < 1 || pos > len(runes)+1 {
		return ""
	}
	i := pos - 1
	start, end := i, i
	for start > 0 && runes[start-1] != '\n' {
		start--
	}
	for end < len(runes) && runes[end] != '\n' {
		end++
	}
	line := strings.Count(string(runes[:start]), "\n") + 1
	prefix := fmt.Sprintf("LINE %d of the query: ", line)
	caret := strings.Repeat(" ", len(prefix))
	for _, r := range runes[start:i] {
		if r == '\t' {
			caret += "\t"
		} else {
			caret += " "
		}
	}
	return prefix + string(runes[start:end]) + "\n" + caret + "^"
}

func asConnectError(err error, target **pgconn.ConnectError) bool { return errors.As(err, target) }
func asPgError(err error, target **pgconn.PgError) bool           { return errors.As(err, target) }
