// Package ipc is the plumbing between Portico's master process and its
// children (workers and the privileged agent): a message channel per child
// and shared-memory zones inherited by all of them.
//
// Invariants:
//
//   - Message set and versioning. The only messages are the Kinds declared in
//     this package (Ready, Quit, Terminate, Reopen, StatusRequest, Status).
//     Every packet starts with the protocol Version and the Kind. A packet
//     with another version or an unknown kind is rejected with an error
//     wrapping ErrProtocol that names what was received; it never crashes the
//     receiver, and the Conn stays usable. Adding or changing a Kind, or the
//     meaning of a payload, requires bumping Version: master and children may
//     come from different binaries during an upgrade.
//
//   - One message per packet. The channel is an AF_UNIX SOCK_SEQPACKET
//     socketpair, so every Send is exactly one packet and every Receive
//     returns exactly one message; there is no framing and no partial read.
//     The payload is opaque to ipc (callers put JSON in it) and at most
//     MaxPayload bytes; an oversized or truncated packet is an error.
//
//   - File descriptors only travel inside ipc. Descriptors are passed as
//     SCM_RIGHTS alongside the message that needs them (Message.Files), at
//     most MaxFiles per message. Received descriptors are close-on-exec
//     (MSG_CMSG_CLOEXEC) and owned by the receiver; descriptors that arrive
//     with a rejected packet are closed by ipc. Shared-memory zones are
//     memfds that are inherited through exec.Cmd.ExtraFiles (or passed on
//     during a master upgrade), never reopened by name.
//
//   - EOF means the peer died. Receive returns io.EOF exactly when the other
//     end of the socketpair is gone (closed or the process exited); there is
//     no goodbye message. The master treats it as the child's death, a child
//     as the master's death.
//
// Package ipc is Linux-only (memfd_create, MSG_CMSG_CLOEXEC). It imports
// nothing else from Portico, never logs, and returns wrapped errors.
package ipc
