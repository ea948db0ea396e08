package server

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tandemhq/tandem/crdt"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/room"
)

// refuseHTTPWrite answers reply with the refusal, and returns true, when an HTTP write by who may
// not go ahead: the document refuses requests now, or who may only read.
func (a *actor) refuseHTTPWrite(who principal, reply chan<- writeResult) bool {
	if err := refusalErr(a.core.Request(), nil); err != nil {
		reply <- writeResult{err: err}
		return true
	}
	if !who.Role.CanWrite() {
		a.s.refuseErr(errReadOnly)
		reply <- writeResult{err: errReadOnly}
		return true
	}
	return false
}

func (a *actor) onHTTPUpdate(m httpUpdateMsg) {
	if a.refuseHTTPWrite(m.who, m.reply) {
		return
	}
	if m.ifAbsent && a.seeded(m.reply) {
		return
	}
	if err := a.authorizeUpdate(m.who.Subject, 0, m.data); err != nil { // security: auth_bindings.go
		a.s.refuseErr(err)
		m.reply <- writeResult{err: err}
		return
	}
	changed, err := a.apply(m.data)
	if err != nil {
		a.s.refuseErr(err)
		m.reply <- writeResult{err: err}
		return
	}
	u := room.Applied[member, outFrame]{Changed: changed, Data: m.data}
	if changed {
		u.Frame = outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: m.data}), born: time.Now()}
	}
	index := a.core.Apply(u)
	a.s.metrics.httpEdits.Inc()
	a.core.WaitWrite(index, &waitReply{write: m.reply})
}

func (a *actor) onHTTPEdit(m httpEditMsg) {
	if a.refuseHTTPWrite(m.who, m.reply) {
		return
	}
	if !a.selfSaved {
		// The first edit under the server's client ID stores the ID first, so that it stays the
		// same after a restart; the edits wait for that write.
		a.selfQueue = append(a.selfQueue, m)
		if !a.selfBusy {
			a.selfBusy = true
			a.core.MetaWrite()
			b := binary.BigEndian.AppendUint64(nil, a.self)
			a.s.store.PutDocMetaAsync(a.id, metaSelfClient, b, func(err error) {
				a.postEvent(event{kind: evSelfID, err: err})
			})
		}
		return
	}
	a.applyEdits(m)
}

// applyEdits applies an HTTP edit request under the server's client ID, stores and broadcasts the
// resulting update, and answers once it is durable.
func (a *actor) applyEdits(m httpEditMsg) {
	if m.ifAbsent && a.seeded(m.reply) {
		return
	}
	if err := m.req.check(a.doc); err != nil {
		m.reply <- writeResult{err: err}
		return
	}
	if !a.core.Fits(int64(m.req.size())) {
		a.s.refuse(reasonDocTooLarge)
		m.reply <- writeResult{err: protocol.Errorf(protocol.CloseDocumentTooLarge, "the document would exceed %d bytes", a.s.cfg.MaxDocumentBytes)}
		return
	}
	err := m.req.apply(a.doc)
	upd := a.doc.TakeUpdate()
	if upd != nil {
		a.version++
		a.s.metrics.updatesApplied.Inc()
		a.s.metrics.httpEdits.Inc()
		index := a.core.Apply(room.Applied[member, outFrame]{
			Changed: true,
			Data:    upd,
			Frame:   outFrame{data: protocol.EncodeFrame(0, &protocol.Update{Data: upd}), born: time.Now()},
			Own:     true,
		})
		if err != nil {
			// Checked edits do not fail; if one did, what was applied is stored and sent anyway.
			a.log.Error("edit failed after its check", "err", err)
			m.reply <- writeResult{err: fmt.Errorf("server: edit %q: %w", a.id, err)}
			return
		}
		a.core.WaitWrite(index, &waitReply{write: m.reply})
		return
	}
	if err != nil {
		m.reply <- writeResult{err: fmt.Errorf("server: edit %q: %w", a.id, err)}
		return
	}
	a.core.WaitWrite(a.core.Issued(), &waitReply{write: m.reply})
}

// seeded answers a seed (PUT /v1/docs/{id}) with existed, and reports true, if the document has
// content: its state vector is not empty, because an update was applied (stored or on its way),
// by any client or an earlier seed. The actor takes writes one at a time, so of two seeds racing
// for an empty document exactly one finds it empty.
func (a *actor) seeded(reply chan writeResult) bool {
	sv := a.stateVector()
	if len(sv) == 0 {
		return false
	}
	reply <- writeResult{sv: crdt.EncodeStateVector(sv), existed: true}
	return true
}

func (a *actor) onRead(m readMsg) {
	if err := refusalErr(a.core.RequestRead(), nil); err != nil {
		m.reply <- readResult{err: err}
		return
	}
	var r readResult
	if m.update {
		r = readResult{update: a.doc.EncodeUpdate(m.since)}
	} else {
		r = readResult{summary: a.summary()}
	}
	// What is read is shown only once durable where that matters (relay).
	a.core.Read(&waitReply{read: m.reply, result: r})
}

// onDelete starts the deletion (room.Core.Delete): the members are closed, and once nothing is
// in flight the document is deleted from storage (room.Remove), which answers m.
func (a *actor) onDelete(m deleteMsg) {
	if err := refusalErr(a.core.Delete(), nil); err != nil {
		m.reply <- err
		return
	}
	a.deleteReply = m.reply
	a.log.Info("deleting document", "members", a.core.Members())
}

// onStop starts the shutdown (room.Core.Stop); a deletion in progress finishes instead.
func (a *actor) onStop() { a.core.Stop() }
