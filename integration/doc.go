// Package integration holds end-to-end tests across backends with real
// peers: the Linux kernel over TAP in fresh network namespaces, driven with
// the tools people use (ping, curl, nc, wrk). They need root and skip with a
// reason otherwise; CI runs them as root.
package integration
