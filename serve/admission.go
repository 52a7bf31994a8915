package serve

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mlship/mlship/internal/apierr"
)

// errMemory is answered 503 when the request bodies in memory would exceed
// MaxInflightBytes.
var errMemory = errors.New("the server is overloaded: too many request bytes in flight")

// chunk is the reservation step for bodies of unknown length.
const chunk = 64 << 10

// readBody reads the request body within the size limit, reserving its
// bytes against MaxInflightBytes first: a body is admitted only if memory
// for it is available now, so a flood of large requests is refused at once
// instead of exhausting memory. release returns the reservation.
func (s *Server) readBody(c echo.Context) (body []byte, release func(), err error) {
	r := c.Request()
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		s.metrics.rejected.WithLabelValues("too_large").Inc()
		return nil, nil, tooLarge(limit)
	}
	var held int64
	reserve := func(n int64) bool {
		if !s.inflight.TryAcquire(n) {
			return false
		}
		held += n
		return true
	}
	release = func() { s.inflight.Release(held) }
	if r.ContentLength >= 0 && !reserve(r.ContentLength+1) {
		s.metrics.rejected.WithLabelValues("memory").Inc()
		return nil, nil, overloaded(errMemory)
	}
	src := http.MaxBytesReader(c.Response(), r.Body, limit)
	n := r.ContentLength
	if n < 0 || n > 1<<20 {
		n = 1 << 14 // grow as it comes; do not trust a huge length up front
	}
	buf := make([]byte, 0, n+1)
	for {
		if len(buf) == cap(buf) {
			if r.ContentLength < 0 && int64(cap(buf))+chunk > held && !reserve(chunk) {
				release()
				s.metrics.rejected.WithLabelValues("memory").Inc()
				return nil, nil, overloaded(errMemory)
			}
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			release()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.metrics.rejected.WithLabelValues("too_large").Inc()
				return nil, nil, tooLarge(limit)
			}
			return nil, nil, apierr.New(apierr.BadRequest, "reading the request body: %v", err)
		}
	}
}

func tooLarge(limit int64) error {
	return &apierr.Error{Code: apierr.RequestLimitExceeded, Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("Request body is larger than the limit of %d bytes (set --max-body-size to change it).", limit)}
}

func overloaded(err error) error {
	return &apierr.Error{Code: apierr.TemporarilyUnavailable, Message: err.Error() + "; retry later", Err: err}
}
