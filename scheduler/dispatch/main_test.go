package dispatch

import (
	"testing"

	"github.com/aegirhq/aegir/scheduler/internal/fakebackend"
)

// TestMain doubles as the fake back end: the test binary re-executed by
// the local executor with AEGIR_FAKE_BACKEND set plays `aegir provision run`.
func TestMain(m *testing.M) { fakebackend.Main(m) }

// Fault injection modes of the fake back end.
const (
	fakeOK       = fakebackend.OK
	fakeGate     = fakebackend.Gate
	fakeHang     = fakebackend.Hang
	fakeStubborn = fakebackend.Stubborn
	fakeSpawn    = fakebackend.Spawn
	fakeSleep    = fakebackend.Sleep
	fakeDie      = fakebackend.Die
	fakeGarbled  = fakebackend.Garbled
	fakeIllegal  = fakebackend.Illegal
	fakeEnv      = fakebackend.Env
	fakeStamp    = fakebackend.Stamp
)
