// Command corral is the single binary: server, agent and client.
package main

import (
	"os"

	"corral/cli"
)

func main() { os.Exit(cli.Execute()) }
