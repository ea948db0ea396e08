// Package ratelimit holds the token buckets that bound how many messages a connection may send per
// second.
//
// A [Bucket] is the classic token bucket: it holds up to burst tokens, refills at rate tokens per
// second, and each message takes one. A [Throttle] puts such a bucket in front of a connection's
// reader and decides what happens to a message that finds it empty: the reader waits until the
// token it took on credit has been earned (so a client over its rate is slowed down by TCP
// backpressure, not cut off for one burst too many), and if the connection has been over its rate
// without a break for longer than a grace period, it is refused ([ErrLimited]) and the server
// closes it with 4429.
//
// A Throttle is the rule alone, shared by every connection of a server; each connection's bucket
// and run of throttling are a [State], a value of three numbers whose zero value is a full bucket.
// The server keeps a connection's States inside the connection, so that rate limits cost an idle
// connection no allocation (docs/server.md, Connections).
//
// Both take the current time as an argument and never read a clock or sleep themselves, so that
// tests drive them with exact times and the caller decides how to wait. A Bucket and a State are
// not safe for concurrent use: each belongs to one goroutine at a time (a State, to its
// connection's reader). A Throttle never changes and may be shared.
//
// This package is internal to the server and imports nothing of tandem's.
package ratelimit
