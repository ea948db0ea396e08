// Package crdttest is the test harness of package crdt, exported so that other
// packages (the server, the cross-language test) can use it, as raft's
// rafttest does for raft.
//
// It holds the scenario runner (the plain-text scenario files of
// testdata/crdt/scenarios, whose format testdata/crdt/README.md describes and
// which the JavaScript twin runs unchanged), a generator of seeded random
// scenarios (RandomScenario) for the cross-language test, seeded random
// convergence runs (Sim: replicas that edit while their updates are delayed,
// reordered, duplicated and lost, every Apply checked by CheckApply; a run
// records itself as a scenario), the comparison of converged replicas
// (Compare), the editing-trace loader (LoadTrace, TraceFiles) and a generator
// of realistic typing traces (Typing) for benchmarks without the traces.
//
// crdttest imports crdt and the standard library only. Like crdt, it reads no
// clock and no global randomness: every random choice comes from a seed.
package crdttest
