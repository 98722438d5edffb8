package store

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
)

func setPackageVersion(v *domain.Package, n uint64)          { v.Version = n }
func setReleaseVersion(v *domain.PackageRelease, n uint64)   { v.Version = n }
func setInstanceVersion(v *domain.PackageInstance, n uint64) { v.Version = n }

// ListPackages returns every package, in id order. Packages are written
// only by the results of verify tasks; the API lists them read-only.
func (s *Store) ListPackages(ctx context.Context) ([]domain.Package, error) {
	return list(ctx, s.kv, prefixPackages, setPackageVersion)
}

// ListReleases returns every package release, in id order.
func (s *Store) ListReleases(ctx context.Context) ([]domain.PackageRelease, error) {
	return list(ctx, s.kv, prefixReleases, setReleaseVersion)
}

// ListInstances returns every package instance, in id order.
func (s *Store) ListInstances(ctx context.Context) ([]domain.PackageInstance, error) {
	return list(ctx, s.kv, prefixInstances, setInstanceVersion)
}
