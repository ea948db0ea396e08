// Package ratelimit holds the token buckets that bound how many messages a connection may send per
// second.
//
// A [Bucket] is the classic token bucket: it holds up to burst tokens, refills at rate tokens per
// second, and each message takes one. A [Throttle] puts a bucket in front of a connection's reader
// and decides what happens to a message that finds the bucket empty: the reader waits until the
// token it took on credit has been earned (so a client over its rate is slowed down by TCP
// backpressure, not cut off for one burst too many), and if the connection has been over its rate
// without a break for longer than a grace period, it is refused ([ErrLimited]) and the server
// closes it with 4429.
//
// Both types take the current time as an argument and never read a clock or sleep themselves, so
// that tests drive them with exact times and the caller decides how to wait. They are not safe for
// concurrent use: each belongs to one connection's reader goroutine.
//
// This package is internal to the server and imports nothing of tandem's.
package ratelimit
