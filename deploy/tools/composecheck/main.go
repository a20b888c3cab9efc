// composecheck: load a compose file as docker compose does (compose-go: interpolation, the compose-spec schema,
// merges, normalisation) and print the resolved project, or the error. No Docker engine involved.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE [ENV_FILE...]")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(os.Args[1:2], cli.WithEnvFiles(os.Args[2:]...), cli.WithDotEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
