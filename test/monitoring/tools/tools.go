//go:build tools

// Pins the dashboard linter in go.mod/go.sum so builds verify against go.sum.
package tools

import _ "github.com/grafana/dashboard-linter"
