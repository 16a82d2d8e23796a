package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration, located by its path
// (for example "groups[0].apis[3].backend.url") and, when the file could be
// read, by its line and column.
type Problem struct {
	// Path of the offending field, spelt as in the file.
	Path string
	// Message says what is wrong and how to fix it. It never contains secrets.
	Message string
	// Line and Column (1-based, Column in characters) of the offending key
	// or value in the file; 0 when unknown. For something missing, the
	// place of what should hold it.
	Line, Column int
}

// String renders the problem as "line:col: path: message", leaving out
// what is unknown.
func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s = fmt.Sprintf("%d:%d: %s", p.Line, p.Column, s)
	}
	return s
}

// Error is returned when a configuration is refused. It lists every problem
// found, not just the first.
type Error struct {
	// Source names the file (or other origin) of the configuration.
	Source string
	// Problems in the order they were found.
	Problems []Problem
}

// Error implements error with one problem per line, each as
// "file:line:col: path: message" (the form editors and terminals link to).
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s refused: %d problem(s)", e.Source, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if e.Source != "" {
			b.WriteString(e.Source)
			b.WriteString(":")
			if p.Line <= 0 {
				b.WriteString(" ")
			}
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problems accumulates Problems during validation.
type problems struct{ list []Problem }

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) err(source string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Source: source, Problems: ps.list}
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
