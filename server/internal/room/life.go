package room

// Mode is what a document's actor is doing with its life.
type Mode uint8

const (
	Run    Mode = iota // serving
	Unload             // idle: save, then exit (a join or request brings it back to Run)
	Stop               // shutdown: finish writes, save, exit
	Delete             // deleting: finish writes, delete from storage, exit
)

// Refusal is why a document takes no new join or request, or why it closes a member or answers
// a waiting request with an error (Core's Close, Reply and Exit effects).
type Refusal uint8

const (
	Open          Refusal = iota // it takes them
	LoadFailed                   // its load failed: it refuses everything until it exits
	GoingAway                    // the server is shutting down
	Deleted                      // it is being deleted
	Full                         // it has as many members as it takes
	NotFound                     // it is not in storage (a read or a deletion of nothing)
	Unavailable                  // it closed (unloaded): try again
	StorageFailed                // its saves failed for good while its log lacks updates
	Custom                       // the caller's own reason (Effect.Err)
)

// Admit decides whether a document in mode, whose load failed or not, takes a new join or
// request, and returns its mode after: a request brings an unloading document back to Run.
func Admit(mode Mode, loadFailed bool) (Mode, Refusal) {
	switch {
	case loadFailed:
		return mode, LoadFailed
	case mode == Stop:
		return mode, GoingAway
	case mode == Delete:
		return mode, Deleted
	case mode == Unload:
		return Run, Open
	}
	return mode, Open
}

// Life is what Settle needs to know of a document.
type Life struct {
	Mode       Mode
	Fatal      bool // the document must close now
	LoadFailed bool // it never loaded: it has nothing to save
	InFlight   bool // an append has not been reported yet
	Saving     bool // a save is in flight
	Retrying   bool // a failed save waits for its backoff
	OtherWrite bool // another write to storage is in flight (the server's client ID)
	Unsaved    bool // changes that no snapshot holds
	Abandoned  bool // the last save was given up and nothing was appended since
	Deleting   bool // the deletion is in flight
	DeletedNow bool // the deletion has reported
}

// Next is what Settle asks of the caller.
type Next uint8

const (
	Stay        Next = iota // go on serving, or wait for what is in flight
	Exit                    // exit now
	StartSave               // start a save, then wait for it
	StartDelete             // start the deletion from storage, then wait for it
)

// Settle decides what moves a document's life on: nothing while it serves; unloading or
// stopping, wait for what is in flight, then save what no snapshot holds (unless the last save
// was given up), then exit; deleting, wait for what is in flight, delete, and exit once the
// deletion reported. A fatal error exits at once, and so does a document that never loaded.
func Settle(l Life) Next {
	if l.Fatal {
		return Exit
	}
	switch l.Mode {
	case Unload, Stop:
		if l.LoadFailed {
			return Exit
		}
		if l.InFlight || l.Saving || l.OtherWrite || l.Retrying {
			return Stay
		}
		if l.Unsaved && !l.Abandoned {
			return StartSave
		}
		return Exit
	case Delete:
		if l.InFlight || l.Saving || l.OtherWrite {
			return Stay
		}
		if !l.Deleting {
			return StartDelete
		}
		if l.DeletedNow {
			return Exit
		}
	}
	return Stay
}

// CanUnload reports whether an idle document may start unloading: it serves, and no member,
// pending join or HTTP request holds it open.
func CanUnload(mode Mode, members, joins, writes, reads int) bool {
	return mode == Run && members == 0 && joins == 0 && writes == 0 && reads == 0
}
