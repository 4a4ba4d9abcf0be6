//go:build !unix

package main

import (
	"errors"
	"os"

	"github.com/wisp-mq/wisp/conf"
)

// Without Unix signals there is no reload or lame-duck signal; these
// channels never fire.
var (
	reloadSignal os.Signal = noSignal{}
	ldmSignal    os.Signal = noSignal{}
)

type noSignal struct{}

func (noSignal) String() string { return "none" }
func (noSignal) Signal()        {}

func sendSignal(*conf.Config) error {
	return errors.New("--signal is only supported on Unix systems")
}
