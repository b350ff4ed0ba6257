package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// tunnel completes a protocol switch (WebSocket): the client gets the
// upstream's 101 and then both connections are joined byte for byte, the
// upstream side still under the read and send timeouts, until either side
// closes.
func (ex *exchange) tunnel(c *conn) {
	defer c.close()
	h := ex.w.Header()
	ex.copyHeader(h)
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{ex.res.upgrade}
	cc, brw, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		// Nothing was written yet: the client gets a 502.
		delete(h, "Connection")
		delete(h, "Upgrade")
		ex.fail(err)
		return
	}
	defer cc.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	errc := make(chan error, 1)
	go join(c, brw.Reader, c.nc, errc) // client -> upstream
	go join(cc, c.br, cc, errc)        // upstream -> client
	// Wait until both directions are done, or one fails.
	if err := <-errc; err == nil {
		<-errc
	}
}

// join copies src to dst; at the end of src it half-closes dst's
// connection, so the other direction may finish.
func join(dst io.Writer, src *bufio.Reader, dstConn net.Conn, errc chan<- error) {
	if _, err := io.Copy(dst, src); err != nil {
		errc <- err
		return
	}
	if cw, ok := dstConn.(interface{ CloseWrite() error }); ok {
		errc <- cw.CloseWrite()
		return
	}
	errc <- io.EOF
}
