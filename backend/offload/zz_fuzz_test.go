package offload

import (
	"testing"

	"github.com/ustack/ustack/backend"
)

func FuzzZZTrivial(f *testing.F) {
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1000000 {
			t.Fatal("x")
		}
	})
}

func FuzzZZPool(f *testing.F) {
	f.Add([]byte("abc"))
	pool, _ := backend.NewPool(backend.PoolConfig{Mbuf: true, Count: 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := pool.AllocOne(len(b))
		backend.ReleaseOne(fr)
	})
}
