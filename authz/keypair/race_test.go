//go:build race

package keypair

const raceEnabled = true
