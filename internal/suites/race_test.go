//go:build race

package suites

// raceEnabled is set when the test binary is built with -race.
const raceEnabled = true
