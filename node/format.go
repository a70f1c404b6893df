package node

import (
	"os"

	"github.com/chronon-db/chronon/journal"
)

// FormatDataFile creates path at its full size and formats it as an empty
// data file. It refuses an existing path (journal.ErrExists). A file that
// could not be formatted completely is removed: without its superblock it
// would not open anyway.
func FormatDataFile(path string, opts journal.FormatOptions) error {
	layout, err := journal.NewLayout(opts.Config)
	if err != nil {
		return err
	}
	f, err := journal.CreateFile(path, layout.Size)
	if err != nil {
		return err
	}
	if err := journal.Format(f, opts); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
