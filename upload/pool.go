package upload

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// Budget is a memory limit shared by the part buffers of many uploads (all the workers of a run):
// an upload that would go over it waits, which back-pressures its COPY instead of growing.
type Budget struct {
	sem   *semaphore.Weighted
	Limit int64
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
	allocated int   // buffers made (only the filling goroutine calls get)
	held      int64 // bytes taken from the budget
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
		p.release(int64(cap(b)))
	default:
	}
	if p.budget != nil {
		if size > p.budget.Limit {
			<-p.tokens
			return nil, fmt.Errorf("a part of %d bytes does not fit in the memory limit of %d bytes", size, p.budget.Limit)
		}
		if err := p.budget.sem.Acquire(ctx, size); err != nil {
			<-p.tokens
			return nil, context.Cause(ctx)
		}
		p.held += size
	}
	p.allocated++
	return make([]byte, size), nil
}

// put returns a buffer obtained from get.
func (p *pool) put(b []byte) {
	select {
	case p.free <- b[:0]:
	default:
		p.release(int64(cap(b)))
	}
	<-p.tokens
}

func (p *pool) release(n int64) {
	if p.budget != nil && n > 0 {
		p.budget.sem.Release(n)
		p.held -= n
	}
}

// close gives the budget back; no buffer of the pool may be used afterwards.
func (p *pool) close() {
	p.release(p.held)
}
