package chaos

import "testing"

func TestLastStatusSkipsALineBeingWritten(t *testing.T) {
	log := `time=1 level=INFO msg="node: replica started"
time=2 level=INFO msg="node: status" replica=1 view=3 status=normal primary=false op=40 commit_min=39 commit_max=40 peers=2 rejoining=false commit_checksum=00ab digest=00cd
time=3 level=INFO msg="node: status" replica=1 view=4 status=view_`
	s, ok := LastStatus(log)
	want := Status{View: 3, Status: "normal", Op: 40, CommitMin: 39, CommitMax: 40, Peers: 2, CommitChecksum: "00ab", Digest: "00cd"}
	if !ok || s != want {
		t.Fatalf("LastStatus = %+v, %v; want %+v", s, ok, want)
	}
	if _, ok := LastStatus("no status yet\n"); ok {
		t.Fatal("status found in a log without one")
	}
}

func TestParseFaults(t *testing.T) {
	if f, err := ParseFaults("all"); err != nil || len(f) != len(AllFaults) {
		t.Fatalf("all: %v %v", f, err)
	}
	if f, err := ParseFaults("none"); err != nil || len(f) != 0 {
		t.Fatalf("none: %v %v", f, err)
	}
	if f, err := ParseFaults("kill-primary,pause-primary"); err != nil || len(f) != 2 || f[1] != PausePrimary {
		t.Fatalf("list: %v %v", f, err)
	}
	if _, err := ParseFaults("kill-everything"); err == nil {
		t.Fatal("unknown fault accepted")
	}
}
