//go:build tensorflow && cgo

package tensorflow

import (
	"regexp"
	"testing"
	"time"
)

// The logging switch finds absl::SetMinLogLevel in the linked library by its
// pattern, whatever Abseil release the wheel was built with, and nothing else.
func TestAbslSymbol(t *testing.T) {
	start := time.Now()
	name, err := abslSymbol("SetMinLogLevel", setMinLogLevel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (found in %v)", name, time.Since(start))
	for _, s := range []string{
		"_ZN4absl12lts_2025081414SetMinLogLevelENS0_18LogSeverityAtLeastE",
		"_ZN4absl14SetMinLogLevelENS_18LogSeverityAtLeastE",
	} {
		if !setMinLogLevel.MatchString(s) {
			t.Errorf("pattern misses %s", s)
		}
	}
	if setMinLogLevel.MatchString("_ZN4absl12lts_2025081412log_internal17RawSetMinLogLevelENS0_18LogSeverityAtLeastE") {
		t.Error("pattern matches log_internal::RawSetMinLogLevel")
	}
	if _, err := abslSymbol("no_such_symbol", regexp.MustCompile(`^no_such_symbol$`)); err == nil {
		t.Error("found a symbol that does not exist")
	}
}
