package seal

import (
	"encoding/json"
	"time"
)

// cryptsetupProgress is one line of `cryptsetup --progress-json` (numbers
// are JSON strings).
type cryptsetupProgress struct {
	Done  int64 `json:"device_bytes,string"`
	Total int64 `json:"device_size,string"`
	Speed int64 `json:"speed,string"` // bytes per second
	ETA   int64 `json:"eta_ms,string"`
	Time  int64 `json:"time_ms,string"`
}

// parseProgress turns a --progress-json line into a Progress of step; ok is
// false for any other line.
func parseProgress(step, line string) (Progress, bool) {
	var p cryptsetupProgress
	if json.Unmarshal([]byte(line), &p) != nil || p.Total <= 0 {
		return Progress{}, false
	}
	return Progress{Step: step, Done: p.Done, Total: p.Total, Rate: float64(p.Speed),
		ETA: time.Duration(p.ETA) * time.Millisecond, Elapsed: time.Duration(p.Time) * time.Millisecond}, true
}

// report sends p to o.Progress, if set.
func (o *Options) report(p Progress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}
