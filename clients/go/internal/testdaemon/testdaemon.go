// Package testdaemon gives the Go tests a real metad: the one at
// METAD_ADDRESS when that is set, else a metad it starts itself from
// METAD_BIN_DIR on a free loopback port with a fresh database on the
// PostgreSQL cluster of METAD_TEST_PG (the same environment as
// scripts/daemon_for_tests.sh).
package testdaemon

import (
	"context"
	"errors"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// ErrNotConfigured: neither METAD_ADDRESS nor METAD_BIN_DIR and
// METAD_TEST_PG are set.
var ErrNotConfigured = errors.New("no daemon: set METAD_ADDRESS, or METAD_BIN_DIR and METAD_TEST_PG")

// Daemon is a metad the tests may call.
type Daemon struct {
	Address  string
	cmd      *exec.Cmd
	database string
	log      string
	exited   <-chan error // the result of cmd.Wait
}

// Start returns the daemon of METAD_ADDRESS, or starts one (name goes into
// the database and log file names).
func Start(name string) (*Daemon, error) {
	if addr := os.Getenv("METAD_ADDRESS"); addr != "" {
		return &Daemon{Address: addr}, nil
	}
	return StartOwn(name, Config{})
}

// Config of a daemon StartOwn starts.
type Config struct {
	// Args are extra `metad serve` flags.
	Args []string
	// CAFile, when the daemon serves TLS (--tls_cert), is the CA to trust
	// while waiting for it to serve.
	CAFile string
}

// StartOwn always starts a daemon (METAD_ADDRESS is not used), for tests
// that need flags of their own (TLS, tokens).
func StartOwn(name string, config Config) (*Daemon, error) {
	bin, pg := os.Getenv("METAD_BIN_DIR"), os.Getenv("METAD_TEST_PG")
	if bin == "" || pg == "" {
		return nil, ErrNotConfigured
	}
	d := &Daemon{database: fmt.Sprintf("t_%s_%d_%d", name, os.Getpid(), time.Now().UnixNano()%1000000)}
	if out, err := exec.Command("psql", pg+" dbname=postgres", "-qAtc",
		fmt.Sprintf(`CREATE DATABASE "%s"`, d.database)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("create database: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.Address = fmt.Sprintf("127.0.0.1:%d", port)
	logDir := os.Getenv("METAD_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	d.log = filepath.Join(logDir, fmt.Sprintf("metad-%s-%d.log", name, os.Getpid()))
	logFile, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"serve", "--listen", d.Address,
		"--database", pg + " dbname=" + d.database, "--reaper_interval", "0.2"}, config.Args...)
	d.cmd = exec.Command(filepath.Join(bin, "metad"), args...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start metad: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	creds := grpc.WithInsecure()
	if config.CAFile != "" {
		tc, err := credentials.NewClientTLSFromFile(config.CAFile, "localhost")
		if err != nil {
			d.cmd.Process.Kill()
			return nil, err
		}
		creds = grpc.WithTransportCredentials(tc)
	}
	if err := waitServing(d.Address, creds, exited); err != nil {
		d.cmd.Process.Kill()
		return nil, fmt.Errorf("%v; log %s:\n%s", err, d.log, d.tail())
	}
	d.exited = exited
	return d, nil
}

// Stop ends a daemon Start started (SIGTERM, expecting exit status 0) and
// drops its database; for METAD_ADDRESS it does nothing.
func (d *Daemon) Stop() error {
	if d.cmd == nil {
		return nil
	}
	syscall.Kill(d.cmd.Process.Pid, syscall.SIGTERM)
	var err error
	select {
	case err = <-d.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(d.cmd.Process.Pid, syscall.SIGKILL)
		err = errors.New("did not exit within 15 s of SIGTERM")
	}
	d.cmd = nil
	exec.Command("psql", os.Getenv("METAD_TEST_PG")+" dbname=postgres", "-qAtc",
		fmt.Sprintf(`DROP DATABASE IF EXISTS "%s" WITH (FORCE)`, d.database)).Run()
	if err != nil {
		return fmt.Errorf("metad: %v; log %s:\n%s", err, d.log, d.tail())
	}
	return nil
}

// SQL runs statements on the database of a daemon StartOwn started, for
// tests that must arrange what no RPC can (such as old events to prune).
func (d *Daemon) SQL(statements string) error {
	if d.database == "" {
		return errors.New("testdaemon: SQL needs a daemon of its own (StartOwn)")
	}
	out, err := exec.Command("psql", os.Getenv("METAD_TEST_PG")+" dbname="+d.database,
		"-qAt", "-v", "ON_ERROR_STOP=1", "-c", statements).CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql: %v: %s", err, out)
	}
	return nil
}

func (d *Daemon) tail() string {
	raw, _ := ioutil.ReadFile(d.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitServing polls grpc.health.v1 until the daemon answers SERVING.
func waitServing(address string, creds grpc.DialOption, exited <-chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	conn, err := grpc.Dial(address, creds)
	if err != nil {
		return err
	}
	defer conn.Close()
	health := grpc_health_v1.NewHealthClient(conn)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("metad exited before serving: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		resp, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == grpc_health_v1.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("metad at %s not SERVING within 20 s (last: %v)", address, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
