package upload

import "context"

// pool hands out at most max part buffers at once and reuses returned ones. Buffers too small for
// the current part size (after the schedule grew it) are dropped, so at most max buffers are alive.
type pool struct {
	tokens    chan struct{}
	free      chan []byte
	allocated int // buffers made (only the filling goroutine calls get)
}

func newPool(max int) *pool {
	return &pool{tokens: make(chan struct{}, max), free: make(chan []byte, max)}
}

// get returns a buffer of length size, waiting while max buffers are out.
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
	default:
	}
	p.allocated++
	return make([]byte, size), nil
}

// put returns a buffer obtained from get.
func (p *pool) put(b []byte) {
	select {
	case p.free <- b[:0]:
	default:
	}
	<-p.tokens
}
