package queue

import (
	"slices"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
)

// Series is a bounded time series of figures, compact in JSON: the figure
// names once, then each point as [unix seconds, value per name] (NaN-free:
// a figure missing from a point is -1). Points are oldest first.
//
// It is downsampled as it ages (Compact): one point per hour for the last
// two days, one per day for the last 30 days, one per week for a year;
// older points are dropped. At most about 130 points, a few KiB per site.
type Series struct {
	Names  []string    `json:"names"`
	Points [][]float64 `json:"points"`
}

// tier is one resolution of a Series: points younger than age keep one
// per step (the newest in each step).
type tier struct{ age, step time.Duration }

var tiers = []tier{
	{48 * time.Hour, time.Hour},
	{30 * 24 * time.Hour, 24 * time.Hour},
	{366 * 24 * time.Hour, 7 * 24 * time.Hour},
}

// MaxPoints bounds a Series whatever the clock does.
const MaxPoints = 200

// Add appends the figures measured at t and compacts the series as of t.
// A point older than the newest one (the clock went back) replaces
// nothing: it is inserted in order.
func (s *Series) Add(t time.Time, figures map[string]float64) {
	for name := range figures {
		if !slices.Contains(s.Names, name) {
			s.Names = append(s.Names, name)
			for i := range s.Points {
				s.Points[i] = append(s.Points[i], -1)
			}
		}
	}
	p := make([]float64, 1+len(s.Names))
	p[0] = float64(t.Unix())
	for i, name := range s.Names {
		v, ok := figures[name]
		if !ok {
			v = -1
		}
		p[1+i] = v
	}
	i, _ := slices.BinarySearchFunc(s.Points, p[0], func(q []float64, t float64) int {
		switch {
		case q[0] < t:
			return -1
		case q[0] > t:
			return 1
		}
		return 0
	})
	s.Points = slices.Insert(s.Points, i, p)
	s.Compact(t)
}

// Compact downsamples the series as of now: in each tier, the newest
// point of every step is kept; points older than the last tier, and any
// beyond MaxPoints, are dropped. Points in the future are kept as they are.
func (s *Series) Compact(now time.Time) {
	nowS := float64(now.Unix())
	out := s.Points[:0]
	lastKey := map[int]int64{} // tier → bucket of the last kept point
	// Walk newest first so the newest point of each bucket wins.
	kept := make([][]float64, 0, len(s.Points))
	for i := len(s.Points) - 1; i >= 0; i-- {
		p := s.Points[i]
		age := time.Duration(nowS-p[0]) * time.Second
		if age < 0 {
			kept = append(kept, p)
			continue
		}
		ti := -1
		for j, tr := range tiers {
			if age < tr.age {
				ti = j
				break
			}
		}
		if ti < 0 {
			continue
		}
		bucket := int64(p[0]) / int64(tiers[ti].step/time.Second)
		if k, ok := lastKey[ti]; ok && k == bucket {
			continue
		}
		lastKey[ti] = bucket
		kept = append(kept, p)
	}
	if len(kept) > MaxPoints {
		kept = kept[:MaxPoints]
	}
	for i := len(kept) - 1; i >= 0; i-- {
		out = append(out, kept[i])
	}
	clear(s.Points[len(out):])
	s.Points = out
}

// Latest returns the newest point's figures, or nil.
func (s *Series) Latest() map[string]float64 {
	if len(s.Points) == 0 {
		return nil
	}
	return s.figures(s.Points[len(s.Points)-1])
}

func (s *Series) figures(p []float64) map[string]float64 {
	m := make(map[string]float64, len(s.Names))
	for i, name := range s.Names {
		if i+1 < len(p) && p[i+1] >= 0 {
			m[name] = p[i+1]
		}
	}
	return m
}

// Point is one point of a series as the API serves it (internal/apiv1).
type Point = apiv1.StatsPoint

// View returns the series as points with named figures, oldest first.
func (s *Series) View() []Point {
	out := make([]Point, 0, len(s.Points))
	for _, p := range s.Points {
		out = append(out, Point{At: time.Unix(int64(p[0]), 0).UTC(), Figures: s.figures(p)})
	}
	return out
}
