package crdt

import "testing"

func TestQuickSmoke(t *testing.T) {
	a, _ := NewDoc(1, Config{})
	b, _ := NewDoc(2, Config{})
	ta := a.Text("body")
	if err := ta.Insert(0, "hello"); err != nil {
		t.Fatal(err)
	}
	ta.Insert(5, " world")
	ta.Delete(0, 1)
	ta.Insert(0, "H")
	u := a.TakeUpdate()
	t.Logf("update %x", u)
	ch, err := b.Apply(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("changes %+v", ch)
	if got := b.Text("body").String(); got != "Hello world" {
		t.Fatalf("got %q", got)
	}
	b.Text("body").Insert(5, ",")
	a.Apply(b.TakeUpdate())
	t.Log(a.Text("body").String())
	s := a.EncodeSnapshot()
	t.Logf("snapshot %x", s)
	c, _ := NewDoc(3, Config{})
	if _, err := c.Apply(s); err != nil {
		t.Fatal(err)
	}
	t.Log(c.Text("body").String())
	if string(c.EncodeSnapshot()) != string(s) {
		t.Fatalf("snapshot differs %x", c.EncodeSnapshot())
	}
	e := b.EncodeUpdate(nil)
	t.Logf("enc %x", e)
	dd, _ := NewDoc(4, Config{})
	if _, err := dd.Apply(e); err != nil {
		t.Fatal(err)
	}
	if string(dd.EncodeSnapshot()) != string(s) {
		t.Fatalf("snapshot differs %x", dd.EncodeSnapshot())
	}
}
