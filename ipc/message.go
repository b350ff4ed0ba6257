package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Version is the wire protocol version, carried in byte 0 of every packet.
const Version = 1

const (
	// MaxPayload is the largest Message.Payload that Send accepts.
	MaxPayload = 60 << 10
	// MaxFiles is the largest number of descriptors one message may carry.
	MaxFiles = 8

	headerLen = 2 // Version, Kind
)

// ErrProtocol is wrapped by every error about a malformed packet received
// from the peer (wrong version, unknown kind, truncation, too many
// descriptors). The offending packet has been consumed and any descriptors
// it carried closed; the Conn remains usable.
var ErrProtocol = errors.New("protocol error")

// Kind identifies a message. The direction is part of the contract.
type Kind uint8

const (
	// KindReady (child -> master): the child is serving. The payload
	// identifies the child (pid, role, slot, generation) as callers define.
	KindReady Kind = iota + 1
	// KindQuit (master -> child): drain gracefully — stop accepting, finish
	// in-flight work, then exit.
	KindQuit
	// KindTerminate (master -> child): exit now.
	KindTerminate
	// KindReopen (master -> child): freshly opened log files are in
	// Message.Files; switch to them and close the old ones.
	KindReopen
	// KindStatusRequest (master -> child): reply with a KindStatus message.
	KindStatusRequest
	// KindStatus (child -> master): reply to KindStatusRequest; the payload
	// is JSON defined by callers.
	KindStatus
)

var kindNames = [...]string{
	KindReady:         "Ready",
	KindQuit:          "Quit",
	KindTerminate:     "Terminate",
	KindReopen:        "Reopen",
	KindStatusRequest: "StatusRequest",
	KindStatus:        "Status",
}

func (k Kind) valid() bool { return k >= KindReady && k <= KindStatus }

func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Message is one packet on a Conn.
type Message struct {
	Kind Kind
	// Payload is opaque to ipc (callers put JSON in it); at most MaxPayload bytes.
	Payload []byte
	// Files are passed with SCM_RIGHTS; at most MaxFiles. On Send the
	// caller keeps ownership of its copies; on Receive the caller owns the
	// received files and must close them.
	Files []*os.File
}

// NewMessage returns a message of the given kind whose payload is
// json.Marshal(v). A nil v gives an empty payload.
func NewMessage(kind Kind, v any) (Message, error) {
	m := Message{Kind: kind}
	if v == nil {
		return m, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Message{}, fmt.Errorf("ipc: encode %v payload: %w", kind, err)
	}
	if len(b) > MaxPayload {
		return Message{}, fmt.Errorf("ipc: encode %v payload: %d bytes exceeds %d", kind, len(b), MaxPayload)
	}
	m.Payload = b
	return m, nil
}

// Decode unmarshals the JSON payload into v. An empty payload decodes like
// JSON null: v is left unchanged.
func (m Message) Decode(v any) error {
	if len(m.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return fmt.Errorf("ipc: decode %v payload: %w", m.Kind, err)
	}
	return nil
}
