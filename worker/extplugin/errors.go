package extplugin

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("extplugin: client closed")
	// ErrRunner matches every RPC_ERROR answer (see RunnerError).
	ErrRunner = errors.New("extplugin: runner error")
	// ErrConfTokenNotFound matches a RunnerError with CodeConfTokenNotFound.
	// CallRequest and CallResponse only return it once every attempt got it.
	ErrConfTokenNotFound = errors.New("extplugin: conf token not found")
	// ErrProtocol is a malformed or unexpected answer: wrong frame type,
	// undecodable flatbuffer, mismatched id, unknown ExtraInfo question.
	ErrProtocol = errors.New("extplugin: protocol error")
	// ErrFrameTooLarge is a frame whose payload exceeds 2^24-1 bytes; it is
	// refused before anything is written.
	ErrFrameTooLarge = errors.New("extplugin: frame payload exceeds 16777215 bytes")
	// ErrRunnerRestarted means the runner generation moved during every
	// attempt, so each answer was discarded.
	ErrRunnerRestarted = errors.New("extplugin: runner restarted during the call")
)

// Code is A6.Err.Code.
type Code uint8

// The codes of A6.Err.Code.
const (
	CodeBadRequest         Code = 0
	CodeServiceUnavailable Code = 1
	CodeConfTokenNotFound  Code = 2
)

func (c Code) String() string {
	switch c {
	case CodeBadRequest:
		return "BAD_REQUEST"
	case CodeServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case CodeConfTokenNotFound:
		return "CONF_TOKEN_NOT_FOUND"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// RunnerError is an RPC_ERROR (type 0) answer. It matches ErrRunner, and
// ErrConfTokenNotFound when that is its code.
type RunnerError struct {
	Code Code
}

func (e *RunnerError) Error() string {
	return "extplugin: runner answered RPC_ERROR " + e.Code.String()
}

func (e *RunnerError) Is(target error) bool {
	return target == ErrRunner || (target == ErrConfTokenNotFound && e.Code == CodeConfTokenNotFound)
}

// errStale marks an answer discarded because the runner generation moved
// while it was in flight; the attempt loop retries it.
var errStale = errors.New("extplugin: runner generation changed during the exchange")

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
