// Command aegir is a hosting control plane. See README.md.
package main

import (
	"os"

	"github.com/aegirhq/aegir/internal/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
