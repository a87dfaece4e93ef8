package bpf

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Sentinel errors callers can test with errors.Is.
var (
	// ErrUnsupportedLinkType: the compiler has no code for this link type.
	ErrUnsupportedLinkType = errors.New("unsupported link type")
	// ErrTooLong: the program would exceed the kernel's 4096 instructions.
	ErrTooLong = errors.New("filter program too long")
)

// SyntaxError is an error located in a filter expression: a syntax error,
// an unknown name, or a primitive the link type cannot do. Its message
// shows the expression with a caret under the offending token:
//
//	filter: expected a port number or name after 'port', found 'and'
//	    tcp port and host 10.0.0.1
//	             ^
type SyntaxError struct {
	Expr   string // the whole expression
	Offset int    // byte offset of the offending token in Expr
	Msg    string // what was expected or what is wrong
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString("filter: ")
	b.WriteString(e.Msg)
	b.WriteString("\n    ")
	// Tabs and newlines would misplace the caret: show them as spaces.
	b.WriteString(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, e.Expr))
	b.WriteString("\n    ")
	off := min(max(e.Offset, 0), len(e.Expr))
	b.WriteString(strings.Repeat(" ", utf8.RuneCountInString(e.Expr[:off])))
	b.WriteString("^")
	return b.String()
}
