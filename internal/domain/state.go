package domain

// machine is a state machine: the allowed transitions from each state.
type machine[S ~string] struct {
	entity string
	next   map[S][]S
}

// check returns nil when from → to is allowed, and a *TransitionError
// otherwise. Staying in the same state is not a transition and is refused
// too, so a duplicate result cannot be applied twice.
func (m machine[S]) check(from, to S) error {
	for _, s := range m.next[from] {
		if s == to {
			return nil
		}
	}
	return &TransitionError{Entity: m.entity, From: string(from), To: string(to)}
}

func (m machine[S]) known(s S) bool {
	_, ok := m.next[s]
	return ok
}
