// Command duroscope is the command-line client of the Duroscope query
// service: it lists and inspects orchestration instances, shows statistics,
// health, problems, queues and the projection watermark, and exports
// instances. Run "duroscope -h" for the commands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
