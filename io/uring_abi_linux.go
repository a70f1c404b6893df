package io

// The io_uring kernel ABI (include/uapi/linux/io_uring.h), transcribed because
// golang.org/x/sys/unix only exports the syscall numbers.

const (
	sysIoUringSetup    = 425 // unix.SYS_IO_URING_SETUP on every architecture
	sysIoUringEnter    = 426
	sysIoUringRegister = 427

	// mmap offsets
	ioringOffSqRing = 0
	ioringOffCqRing = 0x8000000
	ioringOffSqes   = 0x10000000

	// io_uring_params.flags
	ioringSetupCqsize       = 1 << 3
	ioringSetupClamp        = 1 << 4
	ioringSetupTaskrunFlag  = 1 << 9
	ioringSetupSingleIssuer = 1 << 12
	ioringSetupDeferTaskrun = 1 << 13

	// io_uring_params.features
	ioringFeatSingleMmap = 1 << 0
	ioringFeatNodrop     = 1 << 1
	ioringFeatExtArg     = 1 << 8

	// io_uring_enter flags
	ioringEnterGetevents      = 1 << 0
	ioringEnterExtArg         = 1 << 3
	ioringEnterRegisteredRing = 1 << 4

	// sq_ring flags
	ioringSqCqOverflow = 1 << 1
	ioringSqTaskrun    = 1 << 2

	// io_uring_register opcodes
	ioringRegisterProbe     = 8
	ioringRegisterRingFds   = 20
	ioringUnregisterRingFds = 21
	ioUringOpSupported      = 1 << 0

	// opcodes
	ioringOpFsync       = 3
	ioringOpTimeout     = 11
	ioringOpAccept      = 13
	ioringOpAsyncCancel = 14
	ioringOpConnect     = 16
	ioringOpClose       = 19
	ioringOpRead        = 22
	ioringOpWrite       = 23
	ioringOpSend        = 26
	ioringOpRecv        = 27

	// sqe op flags
	ioringFsyncDatasync    = 1 << 0
	ioringAsyncCancelAll   = 1 << 0
	ioringAsyncCancelFd    = 1 << 1
	ioringCqeBufferShift   = 16
	ioringTimeoutRelative  = 0
	ioringProbeOpsCapacity = 256
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// uringParams is struct io_uring_params (120 bytes).
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // also addr2
	addr        uint64
	len         uint32
	opFlags     uint32 // rw_flags, fsync_flags, msg_flags, timeout_flags, accept_flags, cancel_flags
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// getEventsArg is struct io_uring_getevents_arg, passed with IORING_ENTER_EXT_ARG.
type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}

// probe is struct io_uring_probe with room for 256 opcodes.
type probe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [ioringProbeOpsCapacity]probeOp
}

// rsrcUpdate is struct io_uring_rsrc_update (IORING_REGISTER_RING_FDS).
type rsrcUpdate struct {
	offset uint32
	resv   uint32
	data   uint64
}
