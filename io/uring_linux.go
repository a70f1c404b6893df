package io

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cancelUserData tags the CQEs of internal ASYNC_CANCEL requests, which have no
// Completion. Real operations use gen<<32 | slot, and slot < EntriesMax.
const cancelUserData = ^uint64(0)

// uring is the io_uring engine: one ring, owned by one IO.
//
// Memory ordering: the kernel and this process share the ring indices. The SQ
// tail and CQ head are written by us, the SQ head and CQ tail by the kernel. We
// write SQEs, then publish them with atomic.StoreUint32 on the SQ tail; we read
// the CQ tail with atomic.LoadUint32 before reading the CQEs it covers, then
// release them with atomic.StoreUint32 on the CQ head. Go's sync/atomic
// operations are sequentially consistent, which is stronger than the
// store-release / load-acquire pairs the io_uring ABI asks for (liburing's
// io_uring_smp_store_release / io_uring_smp_load_acquire).
type uring struct {
	io *IO
	fd int

	// enterFd and enterFlags are what io_uring_enter gets: the ring fd, or
	// its index among the thread's registered rings with
	// IORING_ENTER_REGISTERED_RING (Options.LockedOSThread).
	enterFd    int
	enterFlags uint32
	registered bool // the ring fd is registered with the thread
	deferRun   bool // IORING_SETUP_DEFER_TASKRUN: completions need GETEVENTS

	sqRing  []byte // mmap of the SQ ring (also the CQ ring with IORING_FEAT_SINGLE_MMAP)
	cqRing  []byte // mmap of the CQ ring (aliases sqRing when single-mmap)
	sqesMem []byte // mmap of the SQE array

	sqHead, sqTail, sqFlags *uint32
	sqMask, sqEntries       uint32
	sqes                    []sqe
	sqeTail                 uint32 // next SQE to fill; published to *sqTail

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe

	arg getEventsArg // IORING_ENTER_EXT_ARG, points at ts
	ts  [2]int64     // wait timeout (struct __kernel_timespec)

	// Sends and receives through the ring (SQE published or request in the
	// kernel), counted per descriptor bucket (fd % socketBuckets). A Send or
	// Recv is tried inline only while its bucket counts none of its kind, so
	// it cannot overtake an earlier one on the same socket. Counts are
	// bounded by Entries (<= EntriesMax < 1<<16).
	sendsInRing, recvsInRing [socketBuckets]uint16
	// A Recv tried inline that found no data cost a syscall for nothing
	// (typical when the peer is another thread or machine that has not
	// answered yet). After such a miss the bucket skips the inline attempt
	// for the next 2^recvBackoff-1 receives (recvBackoff grows by one per
	// miss, up to recvBackoffMax); a hit resets it.
	recvSkip, recvBackoff [socketBuckets]uint8

	// othersPending counts the published SQEs other than receives since the
	// SQ was last empty after an enter (an upper bound: never too low);
	// keptRecvs says the last poll kept receives back (see poll).
	othersPending uint32
	keptRecvs     bool

	enters       int  // io_uring_enter calls (for tests)
	inlineOps    int  // operations run by syncInline (for tests)
	inlineSocket int  // sends and receives completed by trySocket (for tests)
	noInline     bool // tests: lone file operations always go through the ring
	noInlineSock bool // tests: Send and Recv always go through the ring
	noKeepRecvs  bool // tests and benchmarks: poll never keeps receives back
}

// socketBuckets is the number of per-descriptor counters of sends and
// receives in the ring (a power of two). Descriptors sharing a bucket only
// lose the inline attempt while the other one has an operation in the ring.
const socketBuckets = 128

// recvBackoffMax bounds the skips after inline receive misses: at most one
// wasted recvfrom per 2^recvBackoffMax receives on a socket that never has
// data ready when its Recv is submitted.
const recvBackoffMax = 4

// abandoned keeps Completions (and their buffers) reachable when Close could
// not get them back from the kernel, so their memory is never reused under it.
var abandoned struct {
	sync.Mutex
	list []*Completion
}

func newURing(io *IO, entries int, lockedThread bool) (engine, error) {
	if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil && strings.TrimSpace(string(b)) == "2" {
		return nil, errors.New("disabled by sysctl kernel.io_uring_disabled=2")
	}
	var p uringParams
	fd, errno := -1, unix.EINVAL
	deferRun := false
	if lockedThread { // Linux >= 6.1; every enter must come from this thread
		p.flags = ioringSetupCqsize | ioringSetupClamp | ioringSetupSingleIssuer | ioringSetupDeferTaskrun | ioringSetupTaskrunFlag
		p.cqEntries = 2 * uint32(entries)
		fd, errno = uringSetup(uint32(entries), &p)
		deferRun = errno == 0
	}
	if errno == unix.EINVAL {
		p = uringParams{}
		p.flags = ioringSetupCqsize | ioringSetupClamp
		p.cqEntries = 2 * uint32(entries)
		fd, errno = uringSetup(uint32(entries), &p)
	}
	if errno == unix.EINVAL { // kernels before 5.5 know neither flag
		p = uringParams{}
		fd, errno = uringSetup(uint32(entries), &p)
	}
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{io: io, fd: fd, enterFd: fd, deferRun: deferRun}
	if err := r.init(&p, entries); err != nil {
		r.release()
		return nil, err
	}
	if lockedThread {
		r.registerRing()
	}
	return r, nil
}

// registerRing registers the ring fd with the calling thread (Linux >= 5.18),
// so io_uring_enter skips the file lookup; refused silently.
func (r *uring) registerRing() {
	up := rsrcUpdate{offset: ^uint32(0), data: uint64(r.fd)} // any free index
	n, _, errno := unix.Syscall6(sysIoUringRegister, uintptr(r.fd), ioringRegisterRingFds,
		uintptr(unsafe.Pointer(&up)), 1, 0, 0)
	if errno != 0 || n != 1 {
		return
	}
	r.enterFd, r.enterFlags, r.registered = int(up.offset), ioringEnterRegisteredRing, true
}

func uringSetup(entries uint32, p *uringParams) (int, unix.Errno) {
	fd, _, errno := unix.Syscall(sysIoUringSetup, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	return int(fd), errno
}

func (r *uring) init(p *uringParams, entries int) error {
	if p.features&ioringFeatNodrop == 0 || p.features&ioringFeatExtArg == 0 {
		return fmt.Errorf("kernel io_uring lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG (need Linux >= 5.11), features %#x", p.features)
	}
	if p.sqEntries < uint32(entries) || p.cqEntries < p.sqEntries {
		return fmt.Errorf("io_uring rings too small: sq %d cq %d for %d entries", p.sqEntries, p.cqEntries, entries)
	}
	if err := r.probe(); err != nil {
		return err
	}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&ioringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if r.sqRing, err = unix.Mmap(r.fd, ioringOffSqRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("mmap io_uring SQ ring: %w", err)
	}
	if single {
		r.cqRing = r.sqRing
	} else if r.cqRing, err = unix.Mmap(r.fd, ioringOffCqRing, cqSize, prot, flags); err != nil {
		return fmt.Errorf("mmap io_uring CQ ring: %w", err)
	}
	if r.sqesMem, err = unix.Mmap(r.fd, ioringOffSqes, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), prot, flags); err != nil {
		return fmt.Errorf("mmap io_uring SQEs: %w", err)
	}

	r.sqHead = u32At(r.sqRing, p.sqOff.head)
	r.sqTail = u32At(r.sqRing, p.sqOff.tail)
	r.sqFlags = u32At(r.sqRing, p.sqOff.flags)
	r.sqMask = *u32At(r.sqRing, p.sqOff.ringMask)
	r.sqEntries = *u32At(r.sqRing, p.sqOff.ringEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqesMem[0])), r.sqEntries)
	// The SQ array maps ring positions to SQE indices; keep it the identity.
	array := unsafe.Slice(u32At(r.sqRing, p.sqOff.array), r.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)

	r.cqHead = u32At(r.cqRing, p.cqOff.head)
	r.cqTail = u32At(r.cqRing, p.cqOff.tail)
	r.cqMask = *u32At(r.cqRing, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqRing[p.cqOff.cqes])), *u32At(r.cqRing, p.cqOff.ringEntries))

	r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
	return nil
}

// probe checks that the kernel supports every opcode this engine issues.
func (r *uring) probe() error {
	pr := new(probe)
	_, _, errno := unix.Syscall6(sysIoUringRegister, uintptr(r.fd), ioringRegisterProbe,
		uintptr(unsafe.Pointer(pr)), ioringProbeOpsCapacity, 0, 0)
	if errno != 0 {
		return fmt.Errorf("io_uring_register(PROBE) (need Linux >= 5.6): %w", errno)
	}
	for _, op := range [...]uint8{ioringOpRead, ioringOpWrite, ioringOpFsync, ioringOpAccept,
		ioringOpConnect, ioringOpRecv, ioringOpSend, ioringOpClose, ioringOpTimeout, ioringOpAsyncCancel} {
		if op > pr.lastOp || pr.ops[op].flags&ioUringOpSupported == 0 {
			return fmt.Errorf("io_uring opcode %d not supported by this kernel", op)
		}
	}
	return nil
}

func u32At(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// getSQE returns a zeroed SQE to fill, or nil if the SQ ring is full even after
// submitting what it holds. The caller fills it and calls publish.
func (r *uring) getSQE() *sqe {
	if r.sqeTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		r.enter(r.pending(), 0, 0)
		if r.sqeTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
			return nil
		}
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	*s = sqe{}
	r.sqeTail++
	return s
}

// publish makes the SQEs filled so far visible to the kernel (store-release).
func (r *uring) publish() { atomic.StoreUint32(r.sqTail, r.sqeTail) }

// pending is the number of published SQEs the kernel has not consumed yet.
func (r *uring) pending() uint32 { return r.sqeTail - atomic.LoadUint32(r.sqHead) }

// enter calls io_uring_enter; with IORING_ENTER_EXT_ARG, r.arg points at r.ts.
func (r *uring) enter(toSubmit, minComplete, flags uint32) (int, unix.Errno) {
	var arg, argSize uintptr
	if flags&ioringEnterExtArg != 0 {
		arg, argSize = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
	}
	r.enters++
	n, _, errno := unix.Syscall6(sysIoUringEnter, uintptr(r.enterFd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags|r.enterFlags), arg, argSize)
	return int(n), errno
}

// poll submits every published SQE and, if timeoutNs > 0 and no CQE is ready,
// waits in the same io_uring_enter for one CQE or the timeout. Then it reaps.
//
// One exception: when Wait has callbacks to run (ready) and the SQEs waiting
// are only receives, they are kept for the next poll instead of entering the
// kernel just to hand them over. This is the usual shape of a loop: a
// callback's Send finished inline, the Recv after it found no data, and the
// next Wait runs the send's callback without blocking; the Wait after that
// submits the receive and sleeps in one io_uring_enter instead of two. A
// receive gains nothing from reaching the kernel earlier: it only copies data
// the socket keeps meanwhile. Sends, file operations, timeouts and cancels are
// never kept (a device or a peer would wait for them), and receives are kept
// at most one poll in a row, so a loop that always has callbacks ready still
// submits them on every second Wait.
func (r *uring) poll(timeoutNs int64, ready bool) error {
	if timeoutNs > 0 && r.syncInline() {
		return nil
	}
	wait := timeoutNs > 0 && atomic.LoadUint32(r.cqTail) == atomic.LoadUint32(r.cqHead)
	// With DEFER_TASKRUN finished requests wait as task work until we enter
	// with GETEVENTS; the kernel flags that with IORING_SQ_TASKRUN.
	sqFlags := atomic.LoadUint32(r.sqFlags)
	overflow := sqFlags&ioringSqCqOverflow != 0 || r.deferRun && sqFlags&ioringSqTaskrun != 0
	toSubmit := r.pending()
	if ready && !wait && !overflow && toSubmit > 0 && r.othersPending == 0 && !r.keptRecvs && !r.noKeepRecvs {
		r.keptRecvs = true
		r.reap()
		return nil
	}
	r.keptRecvs = false
	var err error
	if toSubmit > 0 || wait || overflow {
		var minComplete, flags uint32
		if wait || overflow {
			flags |= ioringEnterGetevents
		}
		if wait {
			minComplete = 1
			flags |= ioringEnterExtArg
			r.ts[0], r.ts[1] = timeoutNs/1e9, timeoutNs%1e9
		}
		_, errno := r.enter(toSubmit, minComplete, flags)
		switch errno {
		case 0, unix.ETIME, unix.EINTR:
		case unix.EAGAIN, unix.EBUSY:
			// Out of kernel resources or CQ backlog: reap, retry on the next poll.
		default:
			err = fmt.Errorf("io: io_uring_enter: %w", errno)
		}
		if r.pending() == 0 {
			r.othersPending = 0
		}
	}
	r.reap()
	return err
}

// syncInline handles the case where the loop is about to sleep and its only
// operations are file operations (read or write on a *File or on a seekable
// descriptor, fsync on any) that have not reached the kernel yet. Through the
// ring each of them costs extra thread hops: IORING_OP_FSYNC always runs on an
// io-wq worker, and an async O_DIRECT write on ext4 completes through the dio
// workqueue before io_uring can post it. With nothing else in flight nothing
// could complete meanwhile, so the loop would only sleep; instead the
// operations run here as plain syscalls, in submission order, and their SQEs
// are taken back (safe: without SQPOLL the kernel reads the SQ only inside
// io_uring_enter). The only visible difference is that Wait may return after
// its timeout, as with the fallback. It reports whether it did so.
func (r *uring) syncInline() bool {
	head := atomic.LoadUint32(r.sqHead)
	n := r.sqeTail - head
	if r.noInline || n == 0 || int(n) != r.io.InFlight() || atomic.LoadUint32(r.cqTail) != atomic.LoadUint32(r.cqHead) {
		return false
	}
	for i := head; i != r.sqeTail; i++ {
		s := &r.sqes[i&r.sqMask]
		if s.userData == cancelUserData {
			return false
		}
		switch s.opcode {
		case ioringOpFsync: // never waits for a peer, whatever the descriptor
		case ioringOpRead, ioringOpWrite:
			// ReadFile/WriteFile/WriteDurable name a *File, a regular file
			// or block device (OpenDataFile checked); a raw descriptor
			// costs one lseek to prove it is not a socket or pipe.
			if c := r.io.slots[uint32(s.userData)]; c == nil || !c.file && !seekable(int(s.fd)) {
				return false
			}
		default:
			return false
		}
	}
	for i := head; i != r.sqeTail; i++ {
		s := &r.sqes[i&r.sqMask]
		slot, gen := uint32(s.userData), uint32(s.userData>>32)
		c := r.io.slots[slot]
		if c == nil || c.gen != gen {
			panic("io: pending SQE does not match an operation in flight")
		}
		var res int
		var err error
		for {
			switch {
			case s.opcode == ioringOpRead:
				res, err = unix.Pread(c.fd, c.buf, c.offset)
			case s.opcode == ioringOpWrite && s.opFlags&unix.RWF_DSYNC != 0:
				res, err = pwriteDurable(c.fd, c.buf, c.offset)
			case s.opcode == ioringOpWrite:
				res, err = unix.Pwrite(c.fd, c.buf, c.offset)
			case s.opFlags&ioringFsyncDatasync != 0:
				err = unix.Fdatasync(c.fd)
			default:
				err = unix.Fsync(c.fd)
			}
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			res = 0
		}
		r.io.finish(c, res, err)
	}
	r.sqeTail = head
	r.othersPending = 0
	r.publish()
	r.inlineOps += int(n)
	return true
}

// seekable reports whether fd supports lseek, i.e. is a regular file or a
// device whose pread/pwrite never wait for a peer (sockets, pipes, FIFOs and
// terminals are not seekable). lseek(fd, 0, SEEK_CUR) has no side effect.
// fstat would be the obvious test, but a stat marks the file's ctime as
// observed, and since Linux 6.13 (multigrain timestamps) the next write must
// then update the timestamps at fine granularity: measured here, an fstat
// before each 4 KiB O_DIRECT write made write+fdatasync ~50 µs slower.
func seekable(fd int) bool {
	_, err := unix.Seek(fd, 0, 1 /* SEEK_CUR */)
	return err == nil
}

// reap moves every CQE to the IO's done queue.
func (r *uring) reap() {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail) // load-acquire: CQEs up to tail are written
	for ; head != tail; head++ {
		e := &r.cqes[head&r.cqMask]
		userData, res := e.userData, e.res
		if userData == cancelUserData {
			continue
		}
		slot, gen := uint32(userData), uint32(userData>>32)
		if int(slot) >= len(r.io.slots) {
			panic(fmt.Sprintf("io: io_uring CQE with slot %d out of range", slot))
		}
		c := r.io.slots[slot]
		if c == nil || c.gen != gen {
			panic(fmt.Sprintf("io: io_uring CQE for slot %d gen %d does not match an operation in flight", slot, gen))
		}
		r.leftRing(c)
		r.complete(c, res)
	}
	atomic.StoreUint32(r.cqHead, head) // store-release: the kernel may reuse the CQEs
}

func (r *uring) complete(c *Completion, res int32) {
	switch {
	case c.op == OpTimeout && (res >= 0 || res == -int32(unix.ETIME)):
		r.io.finish(c, 0, nil)
	case res >= 0:
		r.io.finish(c, int(res), nil)
	default:
		r.io.finish(c, 0, errnoOf(res))
	}
}

// shutdown cancels every operation in flight and reaps until the kernel gave
// them all back (or a generous deadline passed: then they are abandoned).
func (r *uring) shutdown() {
	deadline := monotonic() + 5e9
	for r.io.InFlight() > 0 {
		for _, c := range r.io.slots {
			if c != nil && !c.cancel {
				r.cancel(c)
			}
		}
		if monotonic() > deadline {
			abandoned.Lock()
			for _, c := range r.io.slots {
				if c != nil {
					abandoned.list = append(abandoned.list, c)
				}
			}
			abandoned.Unlock()
			return
		}
		if err := r.poll(100e6, false); err != nil && !errors.Is(err, unix.EINTR) {
			deadline = 0 // the ring is broken: abandon what is left on the next round

		}
	}
}

func (r *uring) release() error {
	var errs []error
	if r.sqesMem != nil {
		errs = append(errs, unix.Munmap(r.sqesMem))
	}
	if r.cqRing != nil && len(r.sqRing) > 0 && &r.cqRing[0] != &r.sqRing[0] {
		errs = append(errs, unix.Munmap(r.cqRing))
	}
	if r.sqRing != nil {
		errs = append(errs, unix.Munmap(r.sqRing))
	}
	if r.registered {
		up := rsrcUpdate{offset: uint32(r.enterFd)}
		unix.Syscall6(sysIoUringRegister, uintptr(r.fd), ioringUnregisterRingFds, uintptr(unsafe.Pointer(&up)), 1, 0, 0)
		r.enterFd, r.enterFlags, r.registered = r.fd, 0, false
	}
	errs = append(errs, unix.Close(r.fd))
	r.sqRing, r.cqRing, r.sqesMem, r.sqes, r.cqes = nil, nil, nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("io: release io_uring: %w", err)
	}
	return nil
}

func (r *uring) openSocket(family, sotype, proto int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_CLOEXEC, proto)
}
