package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernel() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// cpuTimes are the machine-wide jiffies of /proc/stat's "cpu" line.
type cpuTimes struct{ busy, idle, steal uint64 }

func readCPUTimes() (cpuTimes, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return cpuTimes{busy: v[0] + v[1] + v[2] + v[5] + v[6], idle: v[3] + v[4], steal: v[7]}, true
}

// cpuUse describes how busy the machine was between two readings: this
// benchmark alone keeps about one CPU busy at concurrency 1, so more than
// that means other work shared the machine.
func cpuUse(a, b cpuTimes, ok bool) string {
	total := (b.busy - a.busy) + (b.idle - a.idle) + (b.steal - a.steal)
	if !ok || total == 0 {
		return "unknown"
	}
	pct := func(x uint64) float64 { return 100 * float64(x) / float64(total) }
	return fmt.Sprintf("%.0f%% busy, %.1f%% steal (all CPUs, whole machine)", pct(b.busy-a.busy), pct(b.steal-a.steal))
}

// procSched is what the scheduler has recorded for every thread of a
// process: time on CPU and the number of times a thread was switched in.
type procSched struct {
	cpu      time.Duration
	switches int64
}

// processSched sums /proc/PID/task/*/schedstat: nanoseconds on CPU, time
// waiting to run, and timeslices run (the first and third fields).
func processSched(pid int) (procSched, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return procSched{}, err
	}
	var sum procSched
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(data))
		if len(f) < 3 {
			continue
		}
		ns, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return procSched{}, fmt.Errorf("%s: malformed schedstat %q", dir, data)
		}
		sum.cpu += time.Duration(ns)
		sum.switches += n
	}
	return sum, nil
}
