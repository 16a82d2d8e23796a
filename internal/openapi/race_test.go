//go:build race

package openapi

// raceEnabled: the race detector makes the import 10x slower; the 2 s
// budget is checked without it.
const raceEnabled = true
