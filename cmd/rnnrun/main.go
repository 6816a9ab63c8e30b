// Command rnnrun runs recurrent neural network models exported from Keras:
// it generates text, classifies images, inspects models and serves them over HTTP.
//
// Exit status: 0 on success, 2 when the command line is wrong (unknown flag or
// command, missing or invalid flag value), 1 when anything fails while running.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
