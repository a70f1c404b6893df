//go:build !linux

package io

import "errors"

func newURing(*IO, int, bool) (engine, error) {
	return nil, errors.New("io_uring exists only on Linux")
}
