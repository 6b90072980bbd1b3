package main

import "io"

// Placeholders until the owners of measure.go and report.go land them; delete this file then.
func runReport(args []string, stdout, stderr io.Writer) int { return 2 }
