package image

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writePause(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		if _, err := PauseBinary(); err == nil {
			t.Fatalf("PauseBinary on %s: want an error", runtime.GOARCH)
		}
		t.Skip("the pause program is x86-64 only")
	}
	bin, err := PauseBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPauseIsStaticELF(t *testing.T) {
	p := writePause(t)
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("not a valid ELF: %v", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Fatalf("class %v machine %v type %v", f.Class, f.Machine, f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Fatalf("pause must be static, has %v", prog.Type)
		}
	}
}

// waitExit waits for cmd with a generous deadline.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("pause did not exit")
		return nil
	}
}

func TestPauseRunsUntilSignal(t *testing.T) {
	p := writePause(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Handlers are installed before pause(): wait until the process sleeps
		// in pause (state S), then check it stays alive across a signal it
		// ignores (SIGCHLD) before sending the one that ends it.
		waitState(t, cmd.Process.Pid, "S")
		if err := cmd.Process.Signal(syscall.SIGCHLD); err != nil {
			t.Fatal(err)
		}
		waitState(t, cmd.Process.Pid, "S")
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(t, cmd); err != nil {
			t.Fatalf("after %v: want exit status 0, got %v", sig, err)
		}
		if !cmd.ProcessState.Exited() || cmd.ProcessState.ExitCode() != 0 {
			t.Fatalf("after %v: %v", sig, cmd.ProcessState)
		}
	}
}

func procStat(pid int) (state string, ppid int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, errors.New("bad stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return "", 0, errors.New("bad stat")
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0], ppid, err
}

func waitState(t *testing.T, pid int, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, err := procStat(pid)
		if err == nil && st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: state %q (err %v), want %q", pid, st, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// children lists the pids whose parent is pid, with their states.
func children(pid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, pp, err := procStat(c)
		if err == nil && pp == pid {
			out[c] = st
		}
	}
	return out
}

// TestPauseReapsOrphans runs pause as PID 1 of a new PID namespace, enters
// that namespace with nsenter and leaves an orphan behind; the orphan is
// reparented to pause and must vanish after it exits instead of staying a
// zombie.
func TestPauseReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Skip("nsenter missing")
	}
	p := writePause(t)
	cmd := exec.Command(p)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid
	waitState(t, pid, "S")
	// sh starts sleep in the background and exits at once: sleep is orphaned
	// and reparented to the namespace's init, pause. Its output goes to
	// /dev/null so that CombinedOutput returns before it exits.
	out, err := exec.Command(nsenter, "-t", strconv.Itoa(pid), "-p", "--", "/bin/sh", "-c", "sleep 2 </dev/null >/dev/null 2>&1 & exit 0").CombinedOutput()
	if err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	sawChild := false
	for {
		kids := children(pid)
		if len(kids) > 0 {
			sawChild = true
		}
		if sawChild && len(kids) == 0 {
			break // adopted, exited and reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("children of pause: %v (saw one: %v); want an adopted orphan that is reaped", kids, sawChild)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, cmd); err != nil {
		t.Fatalf("pause as PID 1 after SIGTERM: %v", err)
	}
}
