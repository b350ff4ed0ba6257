package proxy

import "sync"

// buffers recycles the 32 KiB copy buffers of streamed bodies: a streamed
// body costs one buffer, whatever its size.
var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
