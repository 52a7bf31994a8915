package azureml

import (
	"strconv"
	"strings"
	"time"
)

// isoDuration formats d as an ISO 8601 duration the way the Azure ML API
// writes them: "PT5M", "PT1H30M", "PT0.5S"; zero is "PT0S".
func isoDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	var b strings.Builder
	b.WriteString("PT")
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "H")
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "M")
		d -= m * time.Minute
	}
	if d > 0 || b.Len() == 2 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}
