package postgres

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The integration tests run against a real PostgreSQL: the server at
// $CHRONON_TEST_POSTGRES_URL if set, otherwise a private cluster started
// in a temporary directory from the installed server binaries
// (initdb/pg_ctl under $CHRONON_TEST_POSTGRES_BIN, /usr/lib/postgresql/*/bin
// or $PATH; as root, through runuser -u postgres). Without either they
// skip and say why; scripts/install-test-deps.sh installs the Debian
// package.

var (
	serverOnce sync.Once
	serverURL  string
	serverSkip string
	serverStop func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serverStop != nil {
		serverStop()
	}
	os.Exit(code)
}

// testPool returns a pool on a fresh database of the test server, or
// skips the test with the reason.
func testPool(t *testing.T) *pgxpool.Pool { return benchPool(t) }

// benchPool is testPool for tests and benchmarks.
func benchPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	serverOnce.Do(startServer)
	if serverSkip != "" {
		t.Skip(serverSkip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	db := "chronon_test_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = db
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func startServer() {
	if u := os.Getenv("CHRONON_TEST_POSTGRES_URL"); u != "" {
		serverURL = u
		return
	}
	bin := findServerBin()
	if bin == "" {
		serverSkip = "PostgreSQL is not installed (no initdb/pg_ctl under $CHRONON_TEST_POSTGRES_BIN, /usr/lib/postgresql/*/bin or $PATH) and $CHRONON_TEST_POSTGRES_URL is not set; run scripts/install-test-deps.sh as root to install it"
		return
	}
	var runAs []string
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the server as postgres.
		if _, err := user.Lookup("postgres"); err != nil {
			serverSkip = "running as root and there is no postgres user to run the PostgreSQL server as"
			return
		}
		rb, err := exec.LookPath("runuser")
		if err != nil {
			serverSkip = "running as root without runuser to run the PostgreSQL server as postgres"
			return
		}
		runAs = []string{rb, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "chronon-pg-")
	if err != nil {
		serverSkip = fmt.Sprintf("temporary directory for PostgreSQL: %v", err)
		return
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres:postgres", dir).Run()
	}
	run := func(name string, args ...string) ([]byte, error) {
		argv := append(append(append([]string(nil), runAs...), filepath.Join(bin, name)), args...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		return cmd.CombinedOutput()
	}
	data := filepath.Join(dir, "data")
	if outp, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		serverSkip = fmt.Sprintf("initdb failed: %v: %s", err, outp)
		return
	}
	port, err := freePort()
	if err != nil {
		serverSkip = fmt.Sprintf("no free port for PostgreSQL: %v", err)
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", port, dir)
	if outp, err := run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		serverSkip = fmt.Sprintf("pg_ctl start failed: %v: %s %s", err, outp, log)
		return
	}
	serverURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	serverStop = func() {
		_, _ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	}
}

// findServerBin returns the directory of initdb and pg_ctl, or "".
func findServerBin() string {
	if b := os.Getenv("CHRONON_TEST_POSTGRES_BIN"); b != "" {
		return b
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
