package extplugin

import (
	"fmt"
	"strings"
	"sync"

	A6 "github.com/api7/ext-plugin-proto/go/A6"
	aerr "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hreq "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	hresp "github.com/api7/ext-plugin-proto/go/A6/HTTPRespCall"
	pc "github.com/api7/ext-plugin-proto/go/A6/PrepareConf"
	flatbuffers "github.com/google/flatbuffers/go"
)

// RPC types (spec §5).
const (
	typeError     byte = 0
	typePrepare   byte = 1
	typeReqCall   byte = 2
	typeExtraInfo byte = 3
	typeRespCall  byte = 4
)

const (
	headerLen  = 4
	maxPayload = 1<<24 - 1
	// Builders and read buffers that grew past this (a large body) are
	// not kept, so one big request does not pin its memory forever.
	keepBufferCap = 256 << 10
)

// encoder builds one frame at a time. Frames are finished size-prefixed,
// and the 4-byte little-endian prefix is then overwritten with our header
// (type + 24-bit big-endian length): header and payload are contiguous in
// the builder's buffer, so a frame is one Write without a copy.
type encoder struct {
	b    *flatbuffers.Builder
	offs []flatbuffers.UOffsetT
}

var encoders = sync.Pool{New: func() any {
	return &encoder{b: flatbuffers.NewBuilder(1024), offs: make([]flatbuffers.UOffsetT, 0, 32)}
}}

func getEncoder() *encoder {
	e := encoders.Get().(*encoder)
	e.b.Reset()
	return e
}

func putEncoder(e *encoder) {
	if cap(e.b.Bytes) > keepBufferCap {
		return
	}
	encoders.Put(e)
}

// entries writes es as a vector of A6.TextEntry; a vector is always
// written, even when empty.
func (e *encoder) entries(es []Entry) flatbuffers.UOffsetT {
	b := e.b
	start := len(e.offs)
	for i := range es {
		name := b.CreateString(es[i].Name)
		var value flatbuffers.UOffsetT
		if es[i].HasValue {
			value = b.CreateString(es[i].Value)
		}
		A6.TextEntryStart(b)
		A6.TextEntryAddName(b, name)
		if es[i].HasValue {
			A6.TextEntryAddValue(b, value)
		}
		e.offs = append(e.offs, A6.TextEntryEnd(b))
	}
	b.StartVector(4, len(es), 4)
	for i := len(e.offs) - 1; i >= start; i-- {
		b.PrependUOffsetT(e.offs[i])
	}
	e.offs = e.offs[:start]
	return b.EndVector(len(es))
}

func (e *encoder) finish(typ byte, root flatbuffers.UOffsetT) ([]byte, error) {
	e.b.FinishSizePrefixed(root)
	f := e.b.FinishedBytes()
	n := len(f) - headerLen
	if n > maxPayload {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	f[0], f[1], f[2], f[3] = typ, byte(n>>16), byte(n>>8), byte(n)
	return f, nil
}

func (e *encoder) prepareConf(key string, conf []Entry) ([]byte, error) {
	b := e.b
	var vec flatbuffers.UOffsetT
	if conf != nil {
		vec = e.entries(conf)
	}
	k := b.CreateString(key)
	pc.ReqStart(b)
	if conf != nil {
		pc.ReqAddConf(b, vec)
	}
	pc.ReqAddKey(b, k)
	return e.finish(typePrepare, pc.ReqEnd(b))
}

func (e *encoder) reqCall(id, token uint32, r *Request) ([]byte, error) {
	b := e.b
	var ip flatbuffers.UOffsetT
	switch {
	case r.SrcIP.Is4() || r.SrcIP.Is4In6():
		a := r.SrcIP.Unmap().As4()
		ip = b.CreateByteVector(a[:])
	case r.SrcIP.Is6():
		a := r.SrcIP.As16()
		ip = b.CreateByteVector(a[:])
	}
	path := b.CreateString(r.Path)
	args := e.entries(r.Args)
	headers := e.entries(r.Headers)
	hreq.ReqStart(b)
	hreq.ReqAddId(b, id)
	if ip != 0 {
		hreq.ReqAddSrcIp(b, ip)
	}
	if m, ok := method(r.Method); ok {
		hreq.ReqAddMethod(b, m)
	}
	hreq.ReqAddPath(b, path)
	hreq.ReqAddArgs(b, args)
	hreq.ReqAddHeaders(b, headers)
	hreq.ReqAddConfToken(b, token)
	return e.finish(typeReqCall, hreq.ReqEnd(b))
}

func (e *encoder) respCall(id, token uint32, r *Response) ([]byte, error) {
	b := e.b
	headers := e.entries(r.Headers)
	hresp.ReqStart(b)
	hresp.ReqAddId(b, id)
	hresp.ReqAddStatus(b, uint16(r.Status))
	hresp.ReqAddHeaders(b, headers)
	hresp.ReqAddConfToken(b, token)
	return e.finish(typeRespCall, hresp.ReqEnd(b))
}

// extraInfo answers one ExtraInfo question; a nil result leaves the field
// unset, which the runner reads as an empty value.
func (e *encoder) extraInfo(result []byte) ([]byte, error) {
	b := e.b
	var vec flatbuffers.UOffsetT
	if result != nil {
		vec = b.CreateByteVector(result)
	}
	ei.RespStart(b)
	if result != nil {
		ei.RespAddResult(b, vec)
	}
	return e.finish(typeExtraInfo, ei.RespEnd(b))
}

// method maps an HTTP method to A6.Method. CONNECT and extension methods
// have no encoding.
func method(m string) (A6.Method, bool) {
	switch m {
	case "GET":
		return A6.MethodGET, true
	case "HEAD":
		return A6.MethodHEAD, true
	case "POST":
		return A6.MethodPOST, true
	case "PUT":
		return A6.MethodPUT, true
	case "DELETE":
		return A6.MethodDELETE, true
	case "MKCOL":
		return A6.MethodMKCOL, true
	case "COPY":
		return A6.MethodCOPY, true
	case "MOVE":
		return A6.MethodMOVE, true
	case "OPTIONS":
		return A6.MethodOPTIONS, true
	case "PROPFIND":
		return A6.MethodPROPFIND, true
	case "PROPPATCH":
		return A6.MethodPROPPATCH, true
	case "LOCK":
		return A6.MethodLOCK, true
	case "UNLOCK":
		return A6.MethodUNLOCK, true
	case "PATCH":
		return A6.MethodPATCH, true
	case "TRACE":
		return A6.MethodTRACE, true
	}
	return 0, false
}

// The flatbuffers accessors index the payload without bounds checks of
// their own, so a malformed answer panics; every decoder turns that into
// ErrProtocol instead of taking the worker down.
func recoverMalformed(what string, err *error) {
	if r := recover(); r != nil {
		*err = protocolError("malformed %s: %v", what, r)
	}
}

func root(p []byte, what string) (flatbuffers.UOffsetT, error) {
	if len(p) < flatbuffers.SizeUOffsetT {
		return 0, protocolError("%s payload of %d bytes", what, len(p))
	}
	return flatbuffers.GetUOffsetT(p), nil
}

func decodeError(p []byte) (err error) {
	defer recoverMalformed("A6.Err.Resp", &err)
	at, err := root(p, "A6.Err.Resp")
	if err != nil {
		return err
	}
	var r aerr.Resp
	r.Init(p, at)
	return &RunnerError{Code: Code(r.Code())}
}

func decodePrepare(p []byte) (token uint32, err error) {
	defer recoverMalformed("A6.PrepareConf.Resp", &err)
	at, err := root(p, "A6.PrepareConf.Resp")
	if err != nil {
		return 0, err
	}
	var r pc.Resp
	r.Init(p, at)
	return r.ConfToken(), nil
}

// question is a decoded A6.ExtraInfo.Req.
type question struct {
	info ei.Info
	name string // Var only
}

func decodeQuestion(p []byte) (q question, err error) {
	defer recoverMalformed("A6.ExtraInfo.Req", &err)
	at, err := root(p, "A6.ExtraInfo.Req")
	if err != nil {
		return q, err
	}
	var r ei.Req
	r.Init(p, at)
	q.info = r.InfoType()
	if q.info == ei.InfoVar {
		var t flatbuffers.Table
		if !r.Info(&t) {
			return q, protocolError("ExtraInfo Var without its table")
		}
		var v ei.Var
		v.Init(t.Bytes, t.Pos)
		q.name = string(v.Name())
	}
	return q, nil
}

// textVector is what the generated TextEntry vector accessors share.
type textVector func(obj *A6.TextEntry, j int) bool

// readEntries copies a TextEntry vector out of the payload (the read buffer
// is reused for the next frame). n is checked against the payload size
// first, so a corrupt length cannot make us allocate gigabytes.
func readEntries(p []byte, n int, at textVector) ([]Entry, error) {
	if n == 0 {
		return nil, nil
	}
	if n > len(p)/flatbuffers.SizeUOffsetT {
		return nil, protocolError("vector of %d entries in a %d-byte payload", n, len(p))
	}
	out := make([]Entry, n)
	var te A6.TextEntry
	for i := range out {
		at(&te, i)
		v := te.Value()
		out[i] = Entry{Name: string(te.Name()), Value: string(v), HasValue: v != nil}
	}
	return out, nil
}

// ignoredRespHeaders are the resp_headers names APISIX does not apply
// (spec §8.2).
var ignoredRespHeaders = [...]string{
	"connection", "content-length", "transfer-encoding", "location", "server",
	"www-authenticate", "content-encoding", "content-type", "content-location", "content-language",
}

func ignoredRespHeader(name string) bool {
	for _, h := range ignoredRespHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func decodeReqAnswer(p []byte, id uint32) (res *ReqResult, err error) {
	defer recoverMalformed("A6.HTTPReqCall.Resp", &err)
	at, err := root(p, "A6.HTTPReqCall.Resp")
	if err != nil {
		return nil, err
	}
	var r hreq.Resp
	r.Init(p, at)
	if got := r.Id(); got != id {
		return nil, protocolError("HTTPReqCall answer for id %d, sent %d", got, id)
	}
	var t flatbuffers.Table
	switch a := r.ActionType(); a {
	case hreq.ActionNONE:
		return &ReqResult{}, nil
	case hreq.ActionStop:
		if !r.Action(&t) {
			return nil, protocolError("Stop action without its table")
		}
		var s hreq.Stop
		s.Init(t.Bytes, t.Pos)
		stop := &Stop{Status: int(s.Status()), Body: cloneBytes(s.BodyBytes())}
		if stop.Status == 0 {
			stop.Status = 200
		}
		if stop.Headers, err = readEntries(p, s.HeadersLength(), s.Headers); err != nil {
			return nil, err
		}
		return &ReqResult{Stop: stop}, nil
	case hreq.ActionRewrite:
		if !r.Action(&t) {
			return nil, protocolError("Rewrite action without its table")
		}
		var w hreq.Rewrite
		w.Init(t.Bytes, t.Pos)
		rw := &Rewrite{Path: string(w.Path())}
		if rw.Headers, err = readEntries(p, w.HeadersLength(), w.Headers); err != nil {
			return nil, err
		}
		if rw.Args, err = readEntries(p, w.ArgsLength(), w.Args); err != nil {
			return nil, err
		}
		resp, err := readEntries(p, w.RespHeadersLength(), w.RespHeaders)
		if err != nil {
			return nil, err
		}
		for _, h := range resp {
			if !ignoredRespHeader(h.Name) {
				rw.RespHeaders = append(rw.RespHeaders, h)
			}
		}
		// APISIX replaces the body only when the vector is non-empty.
		if body := w.BodyBytes(); len(body) > 0 {
			rw.Body, rw.HasBody = cloneBytes(body), true
		}
		if rw.Path == "" && len(rw.Headers) == 0 && len(rw.Args) == 0 && len(rw.RespHeaders) == 0 && !rw.HasBody {
			return &ReqResult{}, nil
		}
		return &ReqResult{Rewrite: rw}, nil
	default:
		return nil, protocolError("unknown HTTPReqCall action %d", a)
	}
}

func decodeRespAnswer(p []byte, id uint32) (res *RespResult, err error) {
	defer recoverMalformed("A6.HTTPRespCall.Resp", &err)
	at, err := root(p, "A6.HTTPRespCall.Resp")
	if err != nil {
		return nil, err
	}
	var r hresp.Resp
	r.Init(p, at)
	if got := r.Id(); got != id {
		return nil, protocolError("HTTPRespCall answer for id %d, sent %d", got, id)
	}
	res = &RespResult{Status: int(r.Status())}
	if res.Headers, err = readEntries(p, r.HeadersLength(), r.Headers); err != nil {
		return nil, err
	}
	if body := r.BodyBytes(); len(body) > 0 {
		res.Body, res.HasBody = cloneBytes(body), true
	}
	return res, nil
}
