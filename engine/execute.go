package engine

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// execute runs the plan's chunks over the run's connections (one COPY on the coordinator, inside
// the snapshot's own transaction, or a queue over cfg.jobs() workers that join the snapshot) and
// returns every object completed, on failure too, so that they can be deleted. A connection takes
// its next chunk as soon as its COPY is done, while that chunk's uploads finish; the memory budget
// and the upload slots bound what is in flight. chunkDone, when set, is called once per chunk
// whose objects are all complete (a resume's journal records it). Nothing about manifests,
// journals or states is decided here: the committers do that.
func (r *run) execute(ctx context.Context, chunkDone func(context.Context, Chunk, []Object) error) ([]Object, error) {
	var (
		mu        sync.Mutex
		completed []Object
	)
	collect := func(c Chunk, wait func() ([]Object, error)) error {
		objs, err := wait()
		mu.Lock()
		completed = append(completed, objs...)
		mu.Unlock()
		if err == nil && chunkDone != nil {
			err = chunkDone(ctx, c, objs)
		}
		if err != nil && r.cfg.To.IsPrefix() {
			return &ChunkError{Table: c.Table.String(), Chunk: c.Index, Range: c.Range(), Err: err}
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if len(r.chunks) == 1 && r.cfg.Snapshot == "" {
		c := r.chunks[0]
		g.Go(func() error {
			wait, _ := r.runChunk(gctx, r.coord, "", c)
			return collect(c, wait)
		})
	} else {
		queue := make(chan Chunk, len(r.chunks))
		for _, c := range r.chunks {
			queue <- c
		}
		close(queue)
		for range min(r.cfg.jobs(), len(r.chunks)) {
			g.Go(func() error {
				conn, err := r.cfg.Conn.Connect(gctx)
				if err != nil {
					return err
				}
				defer closeConn(gctx, conn)
				for c := range queue {
					wait, err := r.runChunk(gctx, conn, r.snap.ID, c)
					if err != nil {
						return collect(c, wait)
					}
					g.Go(func() error { return collect(c, wait) })
				}
				return nil
			})
		}
	}
	err := g.Wait()
	mu.Lock()
	defer mu.Unlock()
	return completed, err
}
