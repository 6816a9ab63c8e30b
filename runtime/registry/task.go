package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rnnrun/rnnrun/runtime/model"
)

// Task is what the registry needs of a task (text generation, image
// classification, scoring, ...): which models it serves, how it checks its
// part of a model's configuration, and how it prepares a loaded version,
// smoke check included. Package task adds what the HTTP server and the CLI
// need. The registry itself knows no task by name.
type Task interface {
	// Name is the task's name, as in routes and commands: "generate".
	Name() string
	// Serves reports whether models of this kind (the task a model's metadata
	// declares, else the config's task key; "" when neither says) get this task.
	Serves(kind string) bool
	// Settings lists the settings keys the task reads from a model's entry,
	// dotted for nested ones ("mode", "defaults.temperature"); they can be
	// overridden by RNNRUN_MODELS_<NAME>_<KEY>.
	Settings() []string
	// CheckConfig validates the task's settings of a model's configuration.
	CheckConfig(mc ModelConfig) error
	// Load prepares the task for one loaded version of a model and runs its
	// smoke check (one small inference).
	Load(ctx context.Context, m *model.Model, mc ModelConfig) (Instance, error)
}

// Instance is a task prepared for one loaded version of a model.
type Instance interface {
	// Status adds the task's fields to the model's status (e.g. "mode", "labels").
	Status() map[string]any
	// Close releases what the instance holds; the model is closed after it.
	Close() error
}

var tasks struct {
	sync.RWMutex
	list []Task
}

// RegisterTask makes a task available to every Registry made afterwards,
// under t.Name(); registering a name again replaces the task. A task package
// calls it from init, so one blank import (or one line) adds a task.
func RegisterTask(t Task) {
	tasks.Lock()
	defer tasks.Unlock()
	if i := slices.IndexFunc(tasks.list, func(o Task) bool { return o.Name() == t.Name() }); i >= 0 {
		tasks.list[i] = t
		return
	}
	tasks.list = append(tasks.list, t)
}

// RegisteredTasks lists the registered tasks in registration order.
func RegisteredTasks() []Task {
	tasks.RLock()
	defer tasks.RUnlock()
	return slices.Clone(tasks.list)
}

// WithTask makes this registry use t instead of the registered task of the
// same name (or in addition, if none has it), e.g. a generate task
// configured to batch streams.
func WithTask(t Task) Option {
	return func(r *Registry) {
		if i := slices.IndexFunc(r.tasks, func(o Task) bool { return o.Name() == t.Name() }); i >= 0 {
			r.tasks[i] = t
			return
		}
		r.tasks = append(r.tasks, t)
	}
}

// Tasks lists the tasks this registry prepares for its models.
func (r *Registry) Tasks() []Task { return slices.Clone(r.tasks) }

// known reports whether some task serves models of this kind.
func knownKind(ts []Task, kind string) bool {
	return slices.ContainsFunc(ts, func(t Task) bool { return t.Serves(kind) })
}

// checkTasks validates each model's task settings with every task that serves its kind.
func checkTasks(ts []Task, cfg Config) error {
	known := settingsKeys(ts)
	for _, mc := range cfg.Models {
		for _, k := range leafKeys(mc.Settings, "") {
			if !slices.Contains(known, k) {
				return fmt.Errorf("%w: model %q: unknown key %q (the tasks read: %s)", ErrBadConfig, mc.Name, k, strings.Join(known, ", "))
			}
		}
		if mc.Task != "" && !knownKind(ts, mc.Task) {
			return fmt.Errorf("%w: model %q: task %q: no registered task serves it (registered: %s)", ErrBadConfig, mc.Name, mc.Task, taskNames(ts))
		}
		for _, t := range ts {
			if !t.Serves(mc.Task) {
				continue
			}
			if err := t.CheckConfig(mc); err != nil {
				return fmt.Errorf("%w: model %q: %v", ErrBadConfig, mc.Name, err)
			}
		}
	}
	return nil
}

func taskNames(ts []Task) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name()
	}
	return fmt.Sprint(names)
}
