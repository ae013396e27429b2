//go:build !race

package ranking_test

const raceEnabled = false
