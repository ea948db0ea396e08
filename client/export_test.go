package client

// WaitFor is waitFor for the package's external tests (server_test.go).
var WaitFor = waitFor
