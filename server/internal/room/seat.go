package room

// Seat is what a document's actor keeps about one of its members. The member's connection holds
// it (the actor reaches it through the connection's Seat method), so that an idle member costs
// the actor no allocation and no map entry; only the actor's goroutine touches it.
type Seat struct {
	// Received counts the update messages received from the member: the sequence its acks count.
	Received uint64
	// Slot is the member's index among the actor's members while it is one (the actor checks
	// that the member at Slot is this one).
	Slot int32
	// Refused: an update of the member was refused. It is closing, and the updates it had queued
	// are dropped unread rather than each refused again (a refusal can cost a pass over the
	// pending buffer).
	Refused bool
}
