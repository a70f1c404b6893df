// Package layering holds no code: its test enforces which packages the
// core packages may import (replica: only wire, statemachine and the
// standard library; journal: wire and io; wire: nothing of the project),
// so that consensus stays free of effects, storage and I/O.
package layering
