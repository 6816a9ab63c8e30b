//go:build race

package infer_test

// raceEnabled: the race detector makes a full MNIST pass about 20x slower.
const raceEnabled = true
