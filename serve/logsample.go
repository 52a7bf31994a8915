package serve

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// sampledLog writes at most one line per second for a class of failures,
// with how many it left out since the last one.
type sampledLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *sampledLog) log(log *slog.Logger, path, code, msg string) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	log.Warn("request refused", "path", path, "status", 503, "code", code, "message", msg, "similar_since_last_line", n)
}

// isProbe reports whether path is a health or readiness probe.
func isProbe(path string) bool {
	switch path {
	case "/ping", "/health", "/v2/health/live", "/v2/health/ready":
		return true
	}
	return strings.HasPrefix(path, "/v2/models/") && strings.HasSuffix(path, "/ready")
}
