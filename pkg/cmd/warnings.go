package cmd

import (
	"sync"
)

// apiWarnings takes the apiserver's warnings (Warning headers: deprecations, admission
// warnings) and prints each once through the reporter, as a "warning: " line that does not
// break the progress line. client-go's default would log them through klog, with a klog
// prefix, in the middle of the progress line. Warnings that arrive before the reporter
// exists are dropped: no request is sent before then.
type apiWarnings struct {
	mu   sync.Mutex
	r    *reporter
	seen map[string]bool
}

// to sends later warnings to r.
func (w *apiWarnings) to(r *reporter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.r = r
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *apiWarnings) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	r := w.r
	dup := w.seen[text]
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[text] = true
	w.mu.Unlock()
	if r != nil && !dup {
		r.Warning(text)
	}
}
