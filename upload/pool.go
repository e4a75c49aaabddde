package upload

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Budget is a memory limit shared by the part buffers of many uploads (all the workers of a run):
// an upload that would go over it waits, which back-pressures its COPY instead of growing.
//
// Buffers of finished uploads are kept for the next ones (still counted in the budget), so a run
// of many objects reuses the same memory instead of leaving garbage for the collector.
type Budget struct {
	sem   *semaphore.Weighted
	Limit int64

	mu    sync.Mutex
	free  [][]byte
	inUse int64 // bytes taken from sem
}

func (b *Budget) acquired(n int64) {
	b.mu.Lock()
	b.inUse += n
	b.mu.Unlock()
}

// take returns the smallest kept buffer of at least size bytes, or nil (a small object's buffer
// does not take a part's).
func (b *Budget) take(size int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	best := -1
	for i, buf := range b.free {
		if int64(cap(buf)) >= size && (best < 0 || cap(buf) < cap(b.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	buf := b.free[best]
	b.free = append(b.free[:best], b.free[best+1:]...)
	return buf
}

// keep stores a buffer for reuse; its bytes stay counted in the budget.
func (b *Budget) keep(buf []byte) {
	b.mu.Lock()
	b.free = append(b.free, buf[:0])
	b.mu.Unlock()
}

// dropKept gives back the budget of every kept buffer; it says whether there was any.
func (b *Budget) dropKept() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, buf := range b.free {
		n += int64(cap(buf))
	}
	b.free = nil
	if n > 0 {
		b.inUse -= n
		b.sem.Release(n)
	}
	return n > 0
}

// tryAllocate returns a buffer of size bytes within the budget, reusing a kept one when it can,
// without waiting; nil when the budget is spent.
func (b *Budget) tryAllocate(size int64) ([]byte, error) {
	if size > b.Limit {
		return nil, fmt.Errorf("a part of %d bytes does not fit in the memory limit of %d bytes", size, b.Limit)
	}
	for {
		if buf := b.take(size); buf != nil {
			return buf[:size], nil
		}
		if b.sem.TryAcquire(size) {
			b.acquired(size)
			return make([]byte, size), nil
		}
		if !b.dropKept() { // kept buffers too small for this part: make room and try again
			return nil, nil
		}
	}
}

// InUse is the memory taken from the budget: the buffers of running uploads and the ones kept for
// the next.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inUse
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(limit), Limit: limit}
}

// pool hands out at most max part buffers at once and reuses returned ones. Buffers too small for
// the current part size (after the schedule grew it) are dropped, so at most max buffers are alive.
// With a budget, every byte allocated is taken from it, and given back when the buffer is dropped
// or the pool is closed.
type pool struct {
	tokens    chan struct{}
	free      chan []byte
	budget    *Budget
	allocated int      // buffers made (only the filling goroutine calls get)
	held      int64    // bytes taken from the budget
	owned     [][]byte // the buffers taken from the budget, handed back on close

	mu sync.Mutex // guards held and owned
}

func newPool(max int, budget *Budget) *pool {
	return &pool{tokens: make(chan struct{}, max), free: make(chan []byte, max), budget: budget}
}

// get returns a buffer of length size, waiting while max buffers are out (or the budget is spent).
func (p *pool) get(ctx context.Context, size int64) ([]byte, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	select {
	case b := <-p.free:
		if int64(cap(b)) >= size {
			return b[:size], nil
		}
		p.release(b)
	default:
	}
	p.allocated++
	if p.budget == nil {
		return make([]byte, size), nil
	}
	// Within a budget: take new memory when there is some, else wait for this upload's own buffers
	// to come back from their parts (waiting on the budget alone could wait for ever while this
	// upload's own buffers sit free) or for another upload to give memory back.
	for {
		b, err := p.budget.tryAllocate(size)
		if err != nil {
			<-p.tokens
			return nil, err
		}
		if b != nil {
			p.mu.Lock()
			p.held += int64(cap(b))
			p.owned = append(p.owned, b)
			p.mu.Unlock()
			return b, nil
		}
		select {
		case b := <-p.free:
			if int64(cap(b)) >= size {
				p.allocated--
				return b[:size], nil
			}
			p.release(b)
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			<-p.tokens
			return nil, context.Cause(ctx)
		}
	}
}

// put returns a buffer obtained from get.
func (p *pool) put(b []byte) {
	select {
	case p.free <- b[:0]:
	default:
		p.release(b)
	}
	<-p.tokens
}

// release gives back the budget of a buffer the pool drops (too small after the schedule grew).
func (p *pool) release(b []byte) {
	if p.budget == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, o := range p.owned {
		if cap(o) > 0 && &o[:1][0] == &b[:1][0] {
			p.owned = append(p.owned[:i], p.owned[i+1:]...)
			p.budget.acquired(-int64(cap(b)))
			p.budget.sem.Release(int64(cap(b)))
			p.held -= int64(cap(b))
			return
		}
	}
}

// close hands the pool's buffers back to the budget, for the next upload; none may be used afterwards.
func (p *pool) close() {
	if p.budget == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.owned {
		p.budget.keep(b)
	}
	p.owned, p.held = nil, 0
}
