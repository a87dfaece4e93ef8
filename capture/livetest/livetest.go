//go:build linux

// Package livetest runs live-capture tests in throwaway network namespaces,
// so that they see only their own traffic and touch nothing of the host's.
//
// A test calls Require (it skips unless root, and fails instead when CI=true),
// then New, which creates a namespace named flowcap-test-<random> with its
// loopback up and deletes it when the test ends, failed or not. Inside it
// the test makes TAP devices (TAP: frames written to the returned file
// arrive on the device as if from a wire) and runs code (Do: sockets created
// there stay there) or commands (Command) in the namespace.
package livetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Require skips the test unless it runs as root, which live capture and
// network namespaces need. When CI=true it fails instead: CI runs as root,
// so a skip there would hide a broken setup.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err != nil {
			t.Fatal("the ip command (iproute2) is missing: run `make deps`")
		}
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("live tests must run as root in CI (they need CAP_NET_RAW and network namespaces)")
	}
	t.Skip("run as root: live tests need CAP_NET_RAW and network namespaces")
}

// Netns is a network namespace that exists for one test.
type Netns struct {
	Name string
	t    testing.TB
}

// New creates a namespace with its loopback up; it is deleted when the test
// ends, with everything in it.
func New(t testing.TB) *Netns {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	ns := &Netns{Name: "flowcap-test-" + hex.EncodeToString(b[:]), t: t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.IP("link", "set", "lo", "up")
	// Devices made later get no IPv6 link-local address, so they send no
	// router or neighbour solicitations of their own into the tests.
	// (lo keeps ::1.)
	err := ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// IP runs the ip command in the namespace; a failure fails the test.
func (ns *Netns) IP(args ...string) string {
	ns.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("ip -n %s %s: %v: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Command returns a command that runs in the namespace.
func (ns *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on an OS thread that has entered the namespace: sockets and
// devices fn creates belong to the namespace for good. Do returns fn's
// error.
func (ns *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is locked and, if it cannot go back to the original
		// namespace, never unlocked: it then dies with this goroutine
		// instead of running other goroutines in the wrong namespace.
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns.Name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// TAP creates a TAP device in the namespace, sets its MTU and brings it up.
// Each write to the returned file is one Ethernet frame arriving on the
// device; the carrier is up while the file is open (it is closed when the
// test ends).
func (ns *Netns) TAP(name string, mtu int) *os.File {
	ns.t.Helper()
	return ns.tunTap(name, mtu, unix.IFF_TAP)
}

// TUN is TAP for a TUN device: a link without a header, where each write
// is one IP packet.
func (ns *Netns) TUN(name string, mtu int) *os.File {
	ns.t.Helper()
	return ns.tunTap(name, mtu, unix.IFF_TUN)
}

func (ns *Netns) tunTap(name string, mtu int, mode uint16) *os.File {
	ns.t.Helper()
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		var req struct {
			name  [unix.IFNAMSIZ]byte
			flags uint16
			_     [22]byte
		}
		copy(req.name[:], name)
		req.flags = mode | unix.IFF_NO_PI
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, errno)
		}
		f = os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
		return nil
	})
	if err != nil {
		ns.t.Fatal(err)
	}
	ns.t.Cleanup(func() { f.Close() })
	ns.IP("link", "set", name, "mtu", fmt.Sprint(mtu), "up")
	return f
}

// RxPackets returns the count of packets the device received, as the
// namespace's own netlink reports it (sysfs would show the host's devices).
func (ns *Netns) RxPackets(dev string) uint64 {
	ns.t.Helper()
	out := ns.IP("-s", "-j", "link", "show", "dev", dev)
	var links []struct {
		Stats struct {
			Rx struct{ Packets uint64 }
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		ns.t.Fatalf("ip -s -j link show dev %s: %v: %s", dev, err, out)
	}
	return links[0].Stats.Rx.Packets
}
