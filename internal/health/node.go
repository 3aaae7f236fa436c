package health

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NodeHealth is this node's resources, read from the operating system.
type NodeHealth struct {
	Hostname    string    `json:"hostname"`
	At          time.Time `json:"at"`
	DataDir     string    `json:"data_dir"`
	DiskTotal   uint64    `json:"disk_total_bytes"`
	DiskFree    uint64    `json:"disk_free_bytes"`
	DiskUsedPct float64   `json:"disk_used_pct"`
	CPUs        int       `json:"cpus"`
	Load1       float64   `json:"load1"`
	// CPUPct is the 1-minute load average over the CPU count, in percent.
	CPUPct      float64 `json:"cpu_pct"`
	MemTotal    uint64  `json:"mem_total_bytes"`
	MemAvail    uint64  `json:"mem_available_bytes"`
	MemUsedPct  float64 `json:"mem_used_pct"`
	ProcessHeap uint64  `json:"process_heap_bytes"`
	Goroutines  int     `json:"goroutines"`
}

// NodeStats reads disk (of dataDir), CPU load and memory. Values the system
// does not offer (no /proc) stay zero.
func (s *Service) NodeStats(dataDir string) NodeHealth {
	n := NodeHealth{At: s.now(), DataDir: dataDir, CPUs: runtime.NumCPU(), Goroutines: runtime.NumGoroutine()}
	n.Hostname, _ = os.Hostname()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &st); err == nil {
		n.DiskTotal = uint64(st.Blocks) * uint64(st.Bsize)
		n.DiskFree = uint64(st.Bavail) * uint64(st.Bsize)
		if n.DiskTotal > 0 {
			n.DiskUsedPct = round1(100 * float64(n.DiskTotal-n.DiskFree) / float64(n.DiskTotal))
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			n.Load1, _ = strconv.ParseFloat(f[0], 64)
			n.CPUPct = round1(100 * n.Load1 / float64(n.CPUs))
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "MemTotal":
				n.MemTotal = kb * 1024
			case "MemAvailable":
				n.MemAvail = kb * 1024
			}
		}
		f.Close()
		if n.MemTotal > 0 {
			n.MemUsedPct = round1(100 * float64(n.MemTotal-n.MemAvail) / float64(n.MemTotal))
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n.ProcessHeap = ms.HeapAlloc
	return n
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
