package testharness

import (
	"path/filepath"
	"runtime"
)

// PlatformFixture returns the absolute path of the test platform name
// (static, php-app, drupal-fixture, drupal7-fixture, ...): the trees under
// internal/testharness/testdata/platforms that tests copy into a temporary
// platform directory. Tests copy them rather than use them in place, as
// tasks write into a platform's sites/ directory.
func PlatformFixture(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "platforms", name)
}
