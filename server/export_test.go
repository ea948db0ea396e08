package server

// The package's token helpers, for its external tests (the crash tests, which run tandem as a
// process).
var (
	MintWith = mintWith
	Bearer   = bearer
)
