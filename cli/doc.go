// Package cli holds corral's command line: `corral server`, `corral
// version`, and (as they land) the agent and the client verbs.
package cli
