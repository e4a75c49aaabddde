package engine

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/pg2s3/pg2s3/copyout"
)

// A router is the RowWriter of a chunk whose partition key the server computes: the rows come in
// the order the server reads them (no ORDER BY, so the server sorts nothing) and the router groups
// them by partition before the splitter, which makes one object per run of a key.
//
// It holds each partition's rows in pages of memory, up to limit bytes. When they are full, the
// biggest partitions are let go of until half the pages are free: one that holds a multipart
// part's worth (direct) is written to its object, which stays open for the partition's next rows
// (data that arrives in runs of a key, as rows inserted day by day do, gets one object per
// partition); a smaller one is appended to the chunk's spill file, an unlinked temporary file. At
// the end of the chunk each partition's spilled and held rows are written out together, the open
// partition first and then in key order: rows that arrive interleaved get one object per
// partition too, as the server's sort gave, with the memory bounded whatever the number of values.
// Without a spill file (none can be written) the small partitions become objects of their own.
type router struct {
	s      *splitter
	direct int    // a partition holding this much is written to its object
	dir    string // where the spill file goes ("": the system's temporary folder)
	log    *slog.Logger

	pages pages
	parts map[string]*heldRows

	spill   *os.File      // nil until the first spill
	spillW  *bufio.Writer // appends to spill
	end     int64         // the spill file's size
	noSpill error         // why spilling stopped (the file could not be made or written)
	// mustSpill makes a spill file that cannot be written fail the chunk: a resumable run's
	// attempts must cut a chunk's objects alike, whatever the disk.
	mustSpill bool

	br    *bufio.Reader // reads rows back, from pages or the spill file
	row   []byte        // a row read back
	big   []*heldRows   // letGo's ranking, kept for the next
	stats routeStats
}

// routeStats count what a chunk's router did (the run's summary says what was spilled).
type routeStats struct {
	Spilled int64 // bytes written to the spill file
	Direct  int64 // bytes written to an open object before the chunk's end
}

// heldRows are one partition's rows, each a 4-byte length and the row (a CSV line or a binary
// tuple, without the key): in pages, and the runs of them already in the spill file.
//
// A run in the spill file is its header (the offset of the partition's run before it, or -1, and
// the run's length) and its rows. A partition keeps only its last run's offset: the memory stays
// bounded by the number of partitions however many times they spill.
type heldRows struct {
	key   []byte
	pages []int32 // in order; the last holds tail bytes
	tail  int
	room  []byte // the last page's free bytes
	size  int    // bytes in pages
	last  int64  // the offset of its last run in the spill file; -1: none
}

// runHeader is the size of a run's header in the spill file.
const runHeader = 12

// pageSize is small, so that ten thousand partitions each holding a page or two fit in a router's
// few tens of MiB.
const pageSize = 4 << 10

// pages is a router's memory: segments of pages taken as they are needed, up to max pages, and the
// pages given back, for the next partition that needs one.
type pages struct {
	segs [][]byte
	max  int
	made int
	free []int32
	pool *segments
}

// segments keeps the segments of finished routers for the next ones (the run's chunks follow one
// another), instead of leaving them to the garbage collector.
type segments struct {
	mu   sync.Mutex
	kept [][]byte
}

func (p *segments) get() []byte {
	if p != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if n := len(p.kept); n > 0 {
			s := p.kept[n-1]
			p.kept = p.kept[:n-1]
			return s
		}
	}
	return make([]byte, pagesPerSeg*pageSize)
}

func (p *segments) put(segs [][]byte) {
	if p != nil {
		p.mu.Lock()
		p.kept = append(p.kept, segs...)
		p.mu.Unlock()
	}
}

const pagesPerSeg = 256 // 1 MiB segments

func (p *pages) page(i int32) []byte {
	off := int(i%pagesPerSeg) * pageSize
	return p.segs[i/pagesPerSeg][off : off+pageSize]
}

// available is how many pages can still be had.
func (p *pages) available() int { return len(p.free) + p.max - p.made }

func (p *pages) get() int32 {
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i
	}
	if p.made%pagesPerSeg == 0 {
		p.segs = append(p.segs, p.pool.get())
	}
	p.made++
	return int32(p.made - 1)
}

func newRouter(s *splitter, limit int64, segs *segments, direct int, dir string, log *slog.Logger) *router {
	maxPages := max(int(limit/pageSize), 64)
	return &router{s: s, direct: min(direct, maxPages*pageSize/2), dir: dir, log: log,
		pages: pages{max: maxPages, pool: segs}, parts: map[string]*heldRows{}}
}

// WriteRow receives one CopyData message (a CSV line, or a binary tuple).
func (r *router) WriteRow(row []byte) error {
	s := r.s
	if s.header && !s.gotHeader {
		return s.WriteRow(row) // the header: kept for every object
	}
	key, rest := s.keys.cut(row)
	h := r.parts[string(key)]
	if h == nil {
		if err := s.onPartition(key); err != nil { // too many partitions: fail at once
			return err
		}
		h = &heldRows{key: append([]byte(nil), key...), last: -1}
		r.parts[string(h.key)] = h
	}
	need := 4 + len(rest) - len(h.room) // beyond the last page's free bytes
	if pages := (need + pageSize - 1) / pageSize; pages > r.pages.available() {
		if pages > r.pages.max/2 { // a row bigger than the router: straight to an object
			if err := r.writeOut(h); err != nil {
				return err
			}
			return s.writeKeyed(h.key, rest)
		}
		if err := r.letGo(); err != nil {
			return err
		}
	}
	if len(h.room) >= 4+len(rest) { // the usual case: the row fits in the last page
		binary.LittleEndian.PutUint32(h.room, uint32(len(rest)))
		copy(h.room[4:], rest)
		h.room = h.room[4+len(rest):]
		h.tail += 4 + len(rest)
		h.size += 4 + len(rest)
		return nil
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(rest)))
	r.add(h, n[:])
	r.add(h, rest)
	return nil
}

// add appends b to h's pages; there are enough free ones.
func (r *router) add(h *heldRows, b []byte) {
	for len(b) > 0 {
		if len(h.room) == 0 {
			p := r.pages.get()
			h.pages = append(h.pages, p)
			h.tail, h.room = 0, r.pages.page(p)
		}
		n := copy(h.room, b)
		h.room = h.room[n:]
		h.tail += n
		h.size += n
		b = b[n:]
	}
}

// release gives h's pages back.
func (r *router) release(h *heldRows) {
	r.pages.free = append(r.pages.free, h.pages...)
	h.pages, h.tail, h.room, h.size = h.pages[:0], 0, nil, 0
}

// letGo writes out the biggest partitions until half the pages are free: one sort per half of the
// memory keeps the cost per row small whatever the number of partitions. The small ones are
// spilled together and their pages freed once the spill file holds them.
func (r *router) letGo() error {
	big := r.big[:0]
	defer func() { r.big = big[:0] }()
	for _, h := range r.parts {
		if h.size > 0 {
			big = append(big, h)
		}
	}
	slices.SortFunc(big, func(a, b *heldRows) int {
		return cmp.Or(cmp.Compare(b.size, a.size), slices.Compare(a.key, b.key))
	})
	var spill []*heldRows
	freed := r.pages.available()
	for _, h := range big {
		if freed >= r.pages.max/2 {
			break
		}
		freed += len(h.pages)
		if h.size >= r.direct || r.noSpill != nil {
			r.stats.Direct += int64(h.size)
			if err := r.writeOut(h); err != nil {
				return err
			}
			continue
		}
		spill = append(spill, h)
	}
	if len(spill) == 0 {
		return nil
	}
	if err := r.spillRows(spill); err != nil {
		if r.mustSpill {
			return fmt.Errorf("writing rows that do not fit in memory to a temporary file (a resumable run needs one): %w", err)
		}
		r.noSpill = err
		r.log.Warn("partitions that do not fit in memory go to objects of their own: no spill file", "error", err)
		for _, h := range spill {
			r.stats.Direct += int64(h.size)
			if err := r.writeOut(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// spillRows appends the partitions' rows to the spill file, and frees their pages once it holds
// them all.
func (r *router) spillRows(hs []*heldRows) error {
	if r.spill == nil {
		f, err := os.CreateTemp(r.dir, "pg2s3-spill-")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // nothing is left behind, however the run ends
		r.spill, r.spillW = f, bufio.NewWriterSize(f, 1<<20)
	}
	end := r.end
	var hdr [runHeader]byte
	for _, h := range hs {
		binary.LittleEndian.PutUint64(hdr[:], uint64(h.last))
		binary.LittleEndian.PutUint32(hdr[8:], uint32(h.size))
		if _, err := r.spillW.Write(hdr[:]); err != nil {
			return err
		}
		for i, p := range h.pages {
			b := r.pages.page(p)
			if i == len(h.pages)-1 {
				b = b[:h.tail]
			}
			if _, err := r.spillW.Write(b); err != nil {
				return err
			}
		}
	}
	if err := r.spillW.Flush(); err != nil {
		return err
	}
	for _, h := range hs {
		h.last = end
		end += runHeader + int64(h.size)
		r.stats.Spilled += int64(h.size)
		r.release(h)
	}
	r.end = end
	return nil
}

// writeOut writes h's spilled and held rows through the splitter to the partition's object, which
// stays open: the next partition written closes it.
func (r *router) writeOut(h *heldRows) error {
	if r.br == nil {
		r.br = bufio.NewReaderSize(nil, copyout.BufferSize)
	}
	for h.last >= 0 { // the runs, from the last one back
		var hdr [runHeader]byte
		if _, err := r.spill.ReadAt(hdr[:], h.last); err != nil {
			return fmt.Errorf("reading rows back: %w", err)
		}
		r.br.Reset(io.NewSectionReader(r.spill, h.last+runHeader, int64(binary.LittleEndian.Uint32(hdr[8:]))))
		if err := r.eachRow(h.key); err != nil {
			return err
		}
		h.last = int64(binary.LittleEndian.Uint64(hdr[:]))
	}
	r.br.Reset(&pageReader{r: r, h: h})
	if err := r.eachRow(h.key); err != nil {
		return err
	}
	r.release(h)
	return nil
}

// pageReader reads a partition's pages in order.
type pageReader struct {
	r    *router
	h    *heldRows
	i, o int // the page, and the offset in it
}

func (p *pageReader) Read(b []byte) (int, error) {
	h := p.h
	for p.i < len(h.pages) {
		end := pageSize
		if p.i == len(h.pages)-1 {
			end = h.tail
		}
		if p.o < end {
			n := copy(b, p.r.pages.page(h.pages[p.i])[p.o:end])
			p.o += n
			return n, nil
		}
		p.i, p.o = p.i+1, 0
	}
	return 0, io.EOF
}

// eachRow writes the length-prefixed rows r.br reads to the splitter, as partition key's: in
// place in r.br's buffer when they fit in it.
func (r *router) eachRow(key []byte) error {
	for {
		n, err := r.br.Peek(4)
		if err == io.EOF && len(n) == 0 {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading rows back: %w", err)
		}
		size := 4 + int(binary.LittleEndian.Uint32(n))
		row, err := r.br.Peek(size)
		if err == bufio.ErrBufferFull { // a row bigger than the buffer
			if cap(r.row) < size {
				r.row = make([]byte, size)
			}
			row = r.row[:size]
			_, err = io.ReadFull(r.br, row)
		} else if err == nil {
			_, err = r.br.Discard(size)
		}
		if err != nil {
			return fmt.Errorf("reading rows back: %w", err)
		}
		if err := r.s.writeKeyed(key, row[4:]); err != nil {
			return err
		}
	}
}

// finish writes every partition out at the end of the chunk's COPY: the one whose object is open
// first, then the others in key order (the same objects in every run of the chunk, as a resume
// needs).
func (r *router) finish() error {
	var open *heldRows
	rest := make([]*heldRows, 0, len(r.parts))
	for _, h := range r.parts {
		switch {
		case h.size == 0 && h.last < 0:
		case r.s.cur != nil && string(h.key) == string(r.s.partKey):
			open = h
		default:
			rest = append(rest, h)
		}
	}
	slices.SortFunc(rest, func(a, b *heldRows) int { return slices.Compare(a.key, b.key) })
	if open != nil {
		rest = append([]*heldRows{open}, rest...)
	}
	for _, h := range rest {
		if err := r.writeOut(h); err != nil {
			return err
		}
	}
	return nil
}

// close removes the spill file (already unlinked: closing frees its space) and the pages.
func (r *router) close() {
	if r.spill != nil {
		r.spill.Close()
		r.spill = nil
	}
	r.pages.pool.put(r.pages.segs)
	r.parts, r.pages = nil, pages{}
}
