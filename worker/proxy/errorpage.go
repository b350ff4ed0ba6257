package proxy

import (
	"net/http"
	"strconv"
)

// errorPages are nginx's default error pages, which APISIX answers with for
// every exit that has no body of its own (502, 504, 413, ...).
var errorPages = map[int][]byte{}

func init() {
	for _, code := range []int{400, 404, 408, 413, 414, 431, 500, 502, 503, 504} {
		title := strconv.Itoa(code) + " " + http.StatusText(code)
		errorPages[code] = []byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n")
	}
}

// WriteError answers code with nginx's page.
func WriteError(w http.ResponseWriter, code int) {
	page, ok := errorPages[code]
	if !ok {
		w.WriteHeader(code)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(code)
	w.Write(page)
}
