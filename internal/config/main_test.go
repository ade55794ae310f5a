package config

import (
	"context"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

type testSettings struct{}

func (testSettings) Logger(string) zerolog.Logger { return zerolog.New(io.Discard) }

func TestRunMainExitCodes(t *testing.T) {
	ok := func([]string, Env) (testSettings, error) { return testSettings{}, nil }
	for _, c := range []struct {
		name  string
		parse func([]string, Env) (testSettings, error)
		run   error
		want  int
	}{
		{"runs", ok, nil, 0},
		{"help", func([]string, Env) (testSettings, error) { return testSettings{}, flag.ErrHelp }, nil, 0},
		{"bad settings", func([]string, Env) (testSettings, error) { return testSettings{}, errors.New("batch-size: bad") }, nil, 2},
		{"run fails", ok, errors.New("pipeline failed"), 1},
	} {
		ran := false
		got := runMain("x", nil, OSEnv, c.parse, func(ctx context.Context, _ testSettings, _ zerolog.Logger) error {
			ran = ctx != nil
			return c.run
		})
		if got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
		if wantRun := c.want == 1 || c.name == "runs"; ran != wantRun {
			t.Errorf("%s: run called %v", c.name, ran)
		}
	}
}
