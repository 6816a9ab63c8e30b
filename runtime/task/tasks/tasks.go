// Package tasks registers every task rnnrun ships: import it for its side
// effect, as cmd/rnnrun does. A new task is one package plus one line here.
package tasks

import (
	_ "github.com/rnnrun/rnnrun/runtime/task/classify" // image classification
	_ "github.com/rnnrun/rnnrun/runtime/task/generate" // text generation
	_ "github.com/rnnrun/rnnrun/runtime/task/score"    // the loss of a text
)
