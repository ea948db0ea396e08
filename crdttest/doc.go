// Package crdttest is the test harness of package crdt, exported so that other
// packages (the server, the cross-language test) can use it, as raft's
// rafttest does for raft.
//
// It holds the scenario runner (the plain-text scenario files of
// testdata/crdt/scenarios, whose format testdata/crdt/README.md describes and
// which the JavaScript twin runs unchanged), a generator of seeded random
// scenarios (RandomScenario) for the cross-language test, a generator of
// realistic typing traces (Typing) for benchmarks, and helpers that compare
// replicas for convergence (Compare).
//
// crdttest imports crdt and the standard library only. Like crdt, it reads no
// clock and no global randomness: every random choice comes from a seed.
package crdttest
