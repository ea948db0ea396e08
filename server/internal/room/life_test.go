package room

import "testing"

// TestSettle: what moves a document's life on, for each mode and what is in flight.
func TestSettle(t *testing.T) {
	tests := []struct {
		name string
		life Life
		want Next
	}{
		{"serving", Life{Mode: Run, Unsaved: true, InFlight: true}, Stay},
		{"fatal exits at once", Life{Mode: Run, Fatal: true, InFlight: true}, Exit},
		{"unload: append in flight waits", Life{Mode: Unload, InFlight: true, Unsaved: true}, Stay},
		{"unload: save in flight waits", Life{Mode: Unload, Saving: true, Unsaved: true}, Stay},
		{"unload: retry waiting waits", Life{Mode: Unload, Retrying: true, Unsaved: true}, Stay},
		{"unload: client id write waits", Life{Mode: Unload, OtherWrite: true}, Stay},
		{"unload: unsaved changes are saved first", Life{Mode: Unload, Unsaved: true}, StartSave},
		{"unload: nothing unsaved exits", Life{Mode: Unload}, Exit},
		{"unload: abandoned save exits with its log", Life{Mode: Unload, Unsaved: true, Abandoned: true}, Exit},
		{"unload: never loaded exits", Life{Mode: Unload, LoadFailed: true, Unsaved: true}, Exit},
		{"stop: unsaved changes are saved first", Life{Mode: Stop, Unsaved: true}, StartSave},
		{"stop: save in flight waits", Life{Mode: Stop, Saving: true}, Stay},
		{"delete: append in flight waits", Life{Mode: Delete, InFlight: true}, Stay},
		{"delete: save in flight waits", Life{Mode: Delete, Saving: true}, Stay},
		{"delete: nothing in flight starts the deletion", Life{Mode: Delete, Unsaved: true}, StartDelete},
		{"delete: deletion in flight waits", Life{Mode: Delete, Deleting: true}, Stay},
		{"delete: deletion reported exits", Life{Mode: Delete, Deleting: true, DeletedNow: true}, Exit},
		{"delete: never saved, a retry waiting does not hold it", Life{Mode: Delete, Retrying: true}, StartDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Settle(tt.life); got != tt.want {
				t.Fatalf("Settle(%+v) = %v; want %v", tt.life, got, tt.want)
			}
		})
	}
}

// TestAdmit: a join or request during an unload brings the document back; a stopping, deleting
// or poisoned one refuses it.
func TestAdmit(t *testing.T) {
	tests := []struct {
		mode       Mode
		loadFailed bool
		wantMode   Mode
		want       Refusal
	}{
		{Run, false, Run, Open},
		{Unload, false, Run, Open}, // a join during the unload's save
		{Stop, false, Stop, GoingAway},
		{Delete, false, Delete, Deleted},
		{Run, true, Run, LoadFailed},
		{Unload, true, Unload, LoadFailed},
	}
	for _, tt := range tests {
		mode, got := Admit(tt.mode, tt.loadFailed)
		if mode != tt.wantMode || got != tt.want {
			t.Errorf("Admit(%v, %v) = %v, %v; want %v, %v", tt.mode, tt.loadFailed, mode, got, tt.wantMode, tt.want)
		}
	}
}

func TestCanUnload(t *testing.T) {
	tests := []struct {
		mode                          Mode
		members, joins, writes, reads int
		want                          bool
	}{
		{Run, 0, 0, 0, 0, true},
		{Run, 1, 0, 0, 0, false},
		{Run, 0, 1, 0, 0, false}, // a join waiting for its binding to be stored
		{Run, 0, 0, 1, 0, false}, // an HTTP write waiting for durability
		{Run, 0, 0, 0, 1, false}, // an HTTP read waiting for durability
		{Stop, 0, 0, 0, 0, false},
		{Unload, 0, 0, 0, 0, false},
	}
	for _, tt := range tests {
		if got := CanUnload(tt.mode, tt.members, tt.joins, tt.writes, tt.reads); got != tt.want {
			t.Errorf("CanUnload(%+v) = %v; want %v", tt, got, tt.want)
		}
	}
}
