package stats

import (
	"encoding/json"
	"net/http"
)

// ServeHTTP answers GET /stats/summary with the latest summary as JSON,
// or 503 before the first good sample.
func (s *Sampler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	sum, _, err := s.Summary()
	if sum == nil {
		msg := "no resource usage sampled yet"
		if err != nil {
			msg += ": " + err.Error()
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sum)
}
