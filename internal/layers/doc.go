// Package layers keeps the module's imports in line with the layering that
// ARCHITECTURE.md at the repository's root describes. It has no code of its
// own: its test reads the "layers" block of ARCHITECTURE.md, parses the
// imports of every non-test Go file in the module, and fails when
//
//   - a package imports a package of a higher layer (the arrows of the
//     diagram point down: a transport may call the service layer, never
//     the reverse), or a package of its own layer outside its own subtree;
//   - a package is in no layer at all (a new package must be placed in the
//     document before it can land, so the page stays the truth).
//
// Test files are not checked: a test may use a harness or a fixture from
// anywhere.
package layers
