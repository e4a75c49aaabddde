package copyout

import (
	"errors"
	"fmt"
	"strings"
)

// Options are the COPY options pg2s3 passes through.
type Options struct {
	Header bool // COPY's HEADER option: the first line names the columns
}

func (o Options) with() string {
	s := " TO STDOUT WITH (FORMAT csv"
	if o.Header {
		s += ", HEADER"
	}
	return s + ")"
}

// Statement is a COPY statement and, for --query, where the user's query starts inside it (so that the
// position of a syntax error can be shown in the user's text).
type Statement struct {
	SQL         string
	Query       string // the user's query, for --query
	QueryOffset int    // characters of SQL before Query
}

const queryPrefix = "COPY (\n"

// QueryStatement wraps query as COPY (query) TO STDOUT WITH (FORMAT csv ...). The query is checked to
// be one statement (a trailing semicolon is dropped) so that nothing but the COPY runs. It is put on its
// own lines, so a trailing -- comment cannot swallow the closing parenthesis.
func QueryStatement(query string, o Options) (Statement, error) {
	q, err := CheckQuery(query)
	if err != nil {
		return Statement{}, err
	}
	return Statement{SQL: queryPrefix + q + "\n)" + o.with(), Query: q, QueryOffset: len([]rune(queryPrefix))}, nil
}

// TableStatement is COPY schema.name TO STDOUT ... for an ordinary table, and
// COPY (SELECT * FROM schema.name) TO STDOUT ... for anything else COPY cannot read directly
// (views, materialized views, foreign and partitioned tables). Both names are quoted.
func TableStatement(t Table, o Options) Statement {
	name := QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name)
	if t.Kind == "r" {
		return Statement{SQL: "COPY " + name + o.with()}
	}
	return Statement{SQL: "COPY (SELECT * FROM " + name + ")" + o.with()}
}

// QuoteIdent quotes a PostgreSQL identifier: double quotes around it, inner double quotes doubled.
// Any string becomes exactly one identifier; a NUL byte, which PostgreSQL cannot store, is dropped.
func QuoteIdent(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// CheckQuery makes sure query is a single SQL statement that can sit inside COPY ( ... ): not empty,
// no top-level semicolon except trailing ones (dropped), parentheses balanced, strings, quoted
// identifiers, dollar quotes and block comments closed. It returns the query without trailing
// semicolons and blanks. It does not parse SQL: the server does, and reports its own errors.
func CheckQuery(query string) (string, error) {
	end, err := scanQuery(query)
	if err != nil {
		return "", err
	}
	q := strings.TrimRight(query[:end], " \t\r\n\f;")
	if strings.TrimSpace(stripComments(q)) == "" {
		return "", errors.New("--query is empty")
	}
	return q, nil
}

// scanQuery returns the length of query up to its trailing semicolons, or an error if the query
// is not one closed statement.
func scanQuery(q string) (int, error) {
	depth := 0
	semi := -1 // position of the first top-level semicolon
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := closeQuote(q, i+1, c, c == '\'' && isEscapeString(q, i))
			if j < 0 {
				return 0, fmt.Errorf("--query has an unterminated %s starting at character %d", map[byte]string{'\'': "string", '"': "quoted identifier"}[c], runeIndex(q, i)+1)
			}
			i = j
			continue
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				i = len(q)
			} else {
				i += j + 1
			}
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := closeComment(q, i)
			if j < 0 {
				return 0, fmt.Errorf("--query has an unterminated /* comment starting at character %d", runeIndex(q, i)+1)
			}
			i = j
			continue
		case c == '$':
			if tag, ok := dollarTag(q, i); ok {
				j := strings.Index(q[i+len(tag):], tag)
				if j < 0 {
					return 0, fmt.Errorf("--query has an unterminated dollar quote %s starting at character %d", tag, runeIndex(q, i)+1)
				}
				i += len(tag) + j + len(tag)
				continue
			}
		}
		if semi >= 0 && !isSpaceOrSemi(c) {
			return 0, fmt.Errorf("--query holds more than one statement (a semicolon at character %d): give a single SELECT", runeIndex(q, semi)+1)
		}
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("--query has an unmatched ')' at character %d", runeIndex(q, i)+1)
			}
		case ';':
			if depth == 0 && semi < 0 {
				semi = i
			}
		}
		i++
	}
	if depth > 0 {
		return 0, errors.New("--query has an unclosed '('")
	}
	if semi >= 0 {
		return semi, nil
	}
	return len(q), nil
}

func isSpaceOrSemi(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ';'
}

// isEscapeString says whether the quote at i opens an E'...' string (backslash escapes).
func isEscapeString(q string, i int) bool {
	if i == 0 || (q[i-1] != 'E' && q[i-1] != 'e') {
		return false
	}
	return i == 1 || !isIdentChar(q[i-2])
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// closeQuote returns the index after the quote that closes a string or identifier opened before
// start, or -1. A doubled quote is an escaped quote; with backslash escapes, \' is too.
func closeQuote(q string, start int, quote byte, backslash bool) int {
	for i := start; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if backslash {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return -1
}

// closeComment returns the index after the */ that closes the (nesting) comment at start, or -1.
func closeComment(q string, start int) int {
	depth := 0
	for i := start; i+1 < len(q); i++ {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i++
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i++
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// dollarTag returns the $tag$ opening a dollar-quoted string at i, if there is one. A $ inside an
// identifier or a positional parameter ($1) is not one.
func dollarTag(q string, i int) (string, bool) {
	if i > 0 && isIdentChar(q[i-1]) {
		return "", false
	}
	for j := i + 1; j < len(q); j++ {
		c := q[j]
		if c == '$' {
			return q[i : j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > i+1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

func stripComments(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := closeComment(q, i)
			if j < 0 {
				return b.String()
			}
			i = j
		default:
			b.WriteByte(q[i])
			i++
		}
	}
	return b.String()
}

func runeIndex(s string, byteIndex int) int { return len([]rune(s[:byteIndex])) }
