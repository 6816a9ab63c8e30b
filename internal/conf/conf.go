// Package conf applies one table of defaults to a configuration struct in two
// ways: as viper defaults (so RNNRUN_* variables override keys a file leaves
// out) and as values for fields left zero (for configs built in Go). The
// table is a value of the struct itself; keys come from its mapstructure tags.
package conf

import (
	"reflect"
	"strings"

	"github.com/spf13/viper"
)

// SetDefaults registers every non-zero field of table in v under prefix
// ("server." for the server section), keyed by its mapstructure tag; squashed
// embedded structs are walked.
func SetDefaults(v *viper.Viper, prefix string, table any) {
	walk(reflect.ValueOf(table), func(key string, f reflect.Value) {
		v.SetDefault(prefix+key, f.Interface())
	}, nil)
}

// Fill sets every zero field of *dst to the value the table gives it.
// Booleans, and fields tagged fill:"no", are left alone: their zero (false,
// or "none") is a choice, not a missing value.
func Fill(dst, table any) {
	d := reflect.ValueOf(dst).Elem()
	walk(reflect.ValueOf(table), func(_ string, f reflect.Value) {}, func(path []int, f reflect.Value) {
		if t := d.FieldByIndex(path); t.IsZero() && t.Kind() != reflect.Bool {
			t.Set(f)
		}
	})
}

// walk calls key for each tagged field and at for each field with its index path.
func walk(v reflect.Value, key func(string, reflect.Value), at func([]int, reflect.Value)) {
	var rec func(v reflect.Value, path []int)
	rec = func(v reflect.Value, path []int) {
		t := v.Type()
		for i := range t.NumField() {
			sf, f := t.Field(i), v.Field(i)
			tag := sf.Tag.Get("mapstructure")
			p := append(append([]int(nil), path...), i)
			if strings.Contains(tag, "squash") {
				rec(f, p)
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" || name == "-" {
				continue
			}
			if !f.IsZero() {
				key(name, f)
			}
			if at != nil && sf.Tag.Get("fill") != "no" {
				at(p, f)
			}
		}
	}
	rec(v, nil)
}
