//go:build cgo && race

package parity_test

const raceEnabled = true
