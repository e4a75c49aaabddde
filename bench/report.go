package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Stat is the median and range of one measure over the successful runs.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// Summary is one approach over all its runs.
type Summary struct {
	Approach   string   `json:"approach"`
	Failed     bool     `json:"failed"`
	Errors     []string `json:"errors,omitempty"`
	Runs       int      `json:"runs"`
	OKRuns     int      `json:"ok_runs"`
	Rows       int64    `json:"rows"`
	Bytes      int64    `json:"bytes"`
	SHA256     string   `json:"sha256"`
	Seconds    Stat     `json:"seconds"`
	RowsPerSec Stat     `json:"rows_per_s"`
	MBPerSec   Stat     `json:"mb_per_s"`
	CPUSeconds Stat     `json:"cpu_seconds"` // user + sys, from rusage
	PeakRSSMiB Stat     `json:"peak_rss_mib"`
	// Ratios of this approach's medians to copy's (time, CPU, memory); 0 when either is missing.
	TimeVsCopy float64  `json:"time_vs_copy"`
	CPUVsCopy  float64  `json:"cpu_vs_copy"`
	RSSVsCopy  float64  `json:"rss_vs_copy"`
	Results    []Result `json:"results"`
}

// Report is the outcome of a benchmark.
type Report struct {
	Source      string     `json:"source"`
	Destination string     `json:"destination"`
	Runs        int        `json:"runs"`
	Batch       int        `json:"batch"`
	Approaches  []*Summary `json:"approaches"`
	SHA256Agree bool       `json:"sha256_agree"`
	SHA256Note  string     `json:"sha256_note"`
}

func newReport(spec Spec, approaches []string, runs int, all map[string][]Result) *Report {
	src := spec.Table
	if src == "" {
		src = spec.Query
	}
	rep := &Report{Source: src, Destination: spec.To, Runs: runs, Batch: spec.Batch}
	for _, a := range approaches {
		s := &Summary{Approach: a, Runs: len(all[a]), Results: all[a]}
		var secs, rps, mbps, cpu, rss []float64
		for _, r := range all[a] {
			if r.Error != "" {
				s.Errors = append(s.Errors, r.Error)
				continue
			}
			s.OKRuns++
			s.Rows, s.Bytes = r.Rows, r.Bytes
			if s.SHA256 == "" {
				s.SHA256 = r.SHA256
			} else if s.SHA256 != r.SHA256 {
				rep.SHA256Note = fmt.Sprintf("%s wrote different bytes in different runs: the query's order is not fixed (no ORDER BY?) or the data changed", a)
			}
			secs = append(secs, r.Seconds)
			rps = append(rps, float64(r.Rows)/r.Seconds)
			mbps = append(mbps, float64(r.Bytes)/1e6/r.Seconds)
			cpu = append(cpu, r.UserSeconds+r.SysSeconds)
			rss = append(rss, float64(r.PeakRSS)/(1<<20))
		}
		s.Failed = s.OKRuns == 0
		s.Seconds, s.RowsPerSec, s.MBPerSec, s.CPUSeconds, s.PeakRSSMiB = stat(secs), stat(rps), stat(mbps), stat(cpu), stat(rss)
		rep.Approaches = append(rep.Approaches, s)
	}
	if c := rep.get(Copy); c != nil && !c.Failed {
		for _, s := range rep.Approaches {
			if !s.Failed {
				s.TimeVsCopy = s.Seconds.Median / c.Seconds.Median
				s.CPUVsCopy = ratio(s.CPUSeconds.Median, c.CPUSeconds.Median)
				s.RSSVsCopy = ratio(s.PeakRSSMiB.Median, c.PeakRSSMiB.Median)
			}
		}
	}
	rep.SHA256Agree = true
	var first string
	var rows []string
	for _, s := range rep.Approaches {
		if s.Failed {
			continue
		}
		rows = append(rows, fmt.Sprintf("%s %d", s.Approach, s.Rows))
		if s.Approach == Parquet { // not CSV: its rows are compared below
			continue
		}
		if first == "" {
			first = s.SHA256
		} else if s.SHA256 != first {
			rep.SHA256Agree = false
		}
	}
	if pq, c := rep.get(Parquet), rep.get(Copy); pq != nil && c != nil && !pq.Failed && !c.Failed && pq.Rows != c.Rows {
		rep.SHA256Agree = false
		rep.SHA256Note = "the row counts differ (" + strings.Join(rows, ", ") + ")"
	}
	if rep.SHA256Agree && rep.SHA256Note == "" {
		rep.SHA256Note = "the outputs of every successful CSV approach are identical (sha256 " + short(first) + ")"
	} else if !rep.SHA256Agree && rep.SHA256Note == "" {
		for _, s := range rep.Approaches[1:] {
			if !s.Failed && s.Rows != rep.Approaches[0].Rows {
				rep.SHA256Note = "the row counts differ (" + strings.Join(rows, ", ") + "): the data changed between runs"
			}
		}
	}
	return rep
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func (r *Report) get(approach string) *Summary {
	for _, s := range r.Approaches {
		if s.Approach == approach {
			return s
		}
	}
	return nil
}

func (r *Report) copySHA() string {
	if c := r.get(Copy); c != nil && !c.Failed {
		return c.SHA256
	}
	return ""
}

func rangeOf(s Stat, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.Median, s.Min, s.Max)
}

func vsCopy(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", x)
}

// rows returns the table's header and rows, shared by the text and markdown forms.
func (r *Report) rows() ([]string, [][]string) {
	head := []string{"approach", "wall s (min–max)", "rows/s", "MB/s", "CPU s (user+sys)", "peak RSS MiB", "time vs copy", "CPU vs copy", "RSS vs copy"}
	var out [][]string
	for _, s := range r.Approaches {
		if s.Failed {
			out = append(out, []string{s.Approach, "FAILED: " + s.Errors[0], "", "", "", "", "", "", ""})
			continue
		}
		name := s.Approach
		if s.OKRuns < s.Runs {
			name += fmt.Sprintf(" (%d of %d runs failed)", s.Runs-s.OKRuns, s.Runs)
		}
		out = append(out, []string{name, rangeOf(s.Seconds, "%.2f"), fmt.Sprintf("%.0f", s.RowsPerSec.Median),
			fmt.Sprintf("%.1f", s.MBPerSec.Median), fmt.Sprintf("%.2f", s.CPUSeconds.Median), rangeOf(s.PeakRSSMiB, "%.0f"),
			vsCopy(s.TimeVsCopy), vsCopy(s.CPUVsCopy), vsCopy(s.RSSVsCopy)})
	}
	return head, out
}

func (r *Report) title() string {
	return fmt.Sprintf("pg2s3 bench: %s -> %s, %d run(s) per approach, alternating; cursor fetches %d rows at a time",
		r.Source, r.Destination, r.Runs, r.Batch)
}

// WriteText writes the report as an aligned table.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintln(w, r.title())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head, rows := r.rows()
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	_, err := fmt.Fprintf(w, "output: %s\n", r.outputLine())
	return err
}

func (r *Report) outputLine() string {
	if r.SHA256Agree {
		return r.SHA256Note
	}
	return "the outputs DIFFER: " + r.SHA256Note
}

// WriteMarkdown writes the report as a markdown table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "%s\n\n", r.title())
	head, rows := r.rows()
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	_, err := fmt.Fprintf(w, "\nOutput: %s.\n", r.outputLine())
	return err
}

// WriteSVG draws median wall time and peak RSS per approach as two small bar charts.
func (r *Report) WriteSVG(w io.Writer) error {
	const width, barH, gap, left, chartW = 640, 22, 8, 90, 420
	n := len(r.Approaches)
	chartH := n*(barH+gap) + 30
	height := 3*chartH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", xmlEscape("pg2s3 bench: "+r.Source+" → "+r.Destination))
	colors := map[string]string{Copy: "#2b7bb9", Cursor: "#e08a1e", Memory: "#9b59b6", Parquet: "#27ae60"}
	chart := func(y0 int, title, unit string, value func(*Summary) float64) {
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y0+14, xmlEscape(title))
		maxV := 0.0
		for _, s := range r.Approaches {
			if !s.Failed {
				maxV = math.Max(maxV, value(s))
			}
		}
		for i, s := range r.Approaches {
			y := y0 + 24 + i*(barH+gap)
			fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+barH-6, xmlEscape(s.Approach))
			if s.Failed || maxV == 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#c0392b">failed</text>`+"\n", left, y+barH-6)
				continue
			}
			v := value(s)
			bw := int(float64(chartW) * v / maxV)
			c := colors[s.Approach]
			if c == "" {
				c = "#7f8c8d"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y, max(bw, 1), barH, c)
			fmt.Fprintf(&b, `<text x="%d" y="%d">%.2f %s</text>`+"\n", left+bw+6, y+barH-6, v, unit)
		}
	}
	chart(26, "median wall time (lower is better)", "s", func(s *Summary) float64 { return s.Seconds.Median })
	chart(26+chartH, "median CPU time, user + sys (lower is better)", "s", func(s *Summary) float64 { return s.CPUSeconds.Median })
	chart(26+2*chartH, "median peak RSS (lower is better)", "MiB", func(s *Summary) float64 { return s.PeakRSSMiB.Median })
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
