package proxy

import "sync"

// bufferPool recycles the 32 KiB copy buffers of response bodies: a
// streamed body costs one buffer, whatever its size.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
