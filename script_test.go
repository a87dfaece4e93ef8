package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as the flowcap command inside scripts
// and child processes (and as flowcap-rss, which measures one: harden_test.go).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"flowcap": main, "flowcap-rss": measureMain})
}

// TestScripts runs the CLI scripts in testdata/script: real commands of the
// real binary, their output compared with what the script expects.
// $TESTDATA is the repository's testdata directory.
func TestScripts(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("TESTDATA", testdata)
			return nil
		},
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") != "",
	})
}
