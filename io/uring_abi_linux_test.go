package io

import (
	"testing"
	"unsafe"
)

func TestURingABISizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_uring_params", unsafe.Sizeof(uringParams{}), 120},
		{"io_uring_sqe", unsafe.Sizeof(sqe{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(cqe{}), 16},
		{"io_uring_getevents_arg", unsafe.Sizeof(getEventsArg{}), 24},
		{"io_uring_probe", unsafe.Sizeof(probe{}), 16 + 8*256},
		{"sqe.userData offset", unsafe.Offsetof(sqe{}.userData), 32},
		{"sqe.addr3 offset", unsafe.Offsetof(sqe{}.addr3), 48},
	} {
		if c.got != c.want {
			t.Errorf("%s: size/offset %d, want %d", c.name, c.got, c.want)
		}
	}
}
