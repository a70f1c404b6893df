package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

func init() {
	register(command{name: "inspect", summary: "print a data file's superblock, layout, WAL and grid", run: runInspect})
}

const inspectUsage = "usage: chronon inspect [--slots=all|problems|none] <path>"

func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, inspectUsage)
		fs.PrintDefaults()
	}
	slots := fs.String("slots", "all", "WAL slots to list: all, problems (not ok/reserved) or none")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || (*slots != "all" && *slots != "problems" && *slots != "none") {
		fmt.Fprintln(stderr, inspectUsage)
		return 2
	}
	path := pos[0]
	f, err := journal.OpenFile(path, true)
	if err != nil {
		fmt.Fprintf(stderr, "chronon inspect: %v\n", err)
		return 1
	}
	defer f.Close()
	j, err := journal.OpenReadOnly(f)
	if err != nil {
		fmt.Fprintf(stderr, "chronon inspect: %s: %v\n", path, err)
		if _, copies, e := journal.ReadSuperblock(f); e != nil && f.Size() >= journal.SuperblockCopies*journal.SectorSize {
			printCopies(stderr, copies)
		}
		return 1
	}
	fmt.Fprintf(stdout, "file %s (%d bytes)\n\n", path, f.Size())
	printSuperblock(stdout, j)
	printLayout(stdout, j.Layout())
	printWAL(stdout, j, *slots)
	printGrid(stdout, j)
	return 0
}

func printCopies(w io.Writer, copies [journal.SuperblockCopies]journal.CopyStatus) {
	for i, c := range copies {
		switch {
		case c.Err != nil:
			fmt.Fprintf(w, "  copy %d: invalid: %v\n", i, c.Err)
		case c.Chosen:
			fmt.Fprintf(w, "  copy %d: valid, sequence %d, checksum %s (current)\n", i, c.Sequence, c.Checksum)
		default:
			fmt.Fprintf(w, "  copy %d: valid, sequence %d, checksum %s (not current)\n", i, c.Sequence, c.Checksum)
		}
	}
}

func printSuperblock(w io.Writer, j *journal.Journal) {
	sb := j.Superblock()
	v := sb.VSR
	fmt.Fprintf(w, "superblock: sequence %d, checksum %s, parent %s\n", sb.Sequence, sb.Checksum, sb.Parent)
	printCopies(w, j.Copies())
	fmt.Fprintf(w, "  format version %d, cluster %s, replica %d of %d\n", journal.FormatVersion, formatUint128(sb.Cluster), sb.Replica, sb.ReplicaCount)
	if caps, err := capacityOf(sb); err != nil {
		fmt.Fprintf(w, "  capacity: %v\n", err)
	} else {
		fmt.Fprintf(w, "  capacity: %d accounts, %d transfers, %d kv keys, %d effects (chronon format --accounts-max, --transfers-max, --kv-keys-max, --effects-max)\n",
			caps.ledgerAccounts, caps.ledgerTransfers, caps.kvKeys, caps.outboxEffects)
	}
	fmt.Fprintf(w, "  view %d, log_view %d (log head op %d), commit_min %d, commit_max %d\n", v.View, v.LogView, v.LogOp, v.CommitMin, v.CommitMax)
	if !v.LogAnchor.IsZero() {
		fmt.Fprintf(w, "  log anchor: op %d, checksum %s\n", v.LogAnchorOp, v.LogAnchor)
	}
	if !v.Started {
		fmt.Fprintln(w, "  never started: no replica has run on this file")
	}
	if v.Truncating {
		fmt.Fprintf(w, "  truncating: a WAL truncation after op %d was interrupted (the next open finishes it)\n", v.TruncateAfter)
	}
	if v.Rejoining {
		fmt.Fprintln(w, "  rejoining: replaces a lost data file; does not vote in view changes until caught up")
	}
	fmt.Fprintf(w, "checkpoint: op %d, prepare checksum %s\n", v.CheckpointOp, v.CheckpointChecksum)
	for i, r := range v.Refs {
		if r.IsZero() {
			fmt.Fprintf(w, "  %-16s empty\n", journal.RefNames[i])
			continue
		}
		fmt.Fprintf(w, "  %-16s address %d, %d bytes, checksum %s\n", journal.RefNames[i], r.Address, r.Size, r.Checksum)
	}
	fmt.Fprintln(w)
}

func printLayout(w io.Writer, l journal.Layout) {
	c := l.Config
	fmt.Fprintf(w, "layout: message_size_max %d, wal slots %d, client sessions %d, grid %d blocks of %d bytes\n",
		c.MessageSizeMax, c.SlotCount, c.ClientsMax, c.GridBlockCount, c.GridBlockSize)
	fmt.Fprintf(w, "  %-15s %14s %14s %10s %8s\n", "zone", "offset", "size", "slot", "slots")
	for _, z := range l.Zones() {
		fmt.Fprintf(w, "  %-15s %14d %14d %10d %8d\n", z.Name, z.Offset, z.Size, z.SlotSize, z.Size/z.SlotSize)
	}
	fmt.Fprintf(w, "  %-15s %14s %14d\n\n", "total", "", l.Size)
}

func printWAL(w io.Writer, j *journal.Journal, which string) {
	r := j.Report()
	fmt.Fprintf(w, "wal: checkpoint op %d, op_max %d, %d ops to repair, %d faulty slots, truncate after op_max: %v\n",
		r.OpCheckpoint, r.OpMax, len(r.Repair), len(r.Faulty), r.TruncateSafe())
	fmt.Fprintf(w, "  highest op named by a redundant header: %d\n", r.OpHeaderMax)
	if r.ChainBreak != 0 {
		fmt.Fprintf(w, "  hash chain breaks at op %d\n", r.ChainBreak)
	}
	if len(r.Truncated) > 0 {
		fmt.Fprintf(w, "  cut at the head (never acknowledged): ops %v\n", r.Truncated)
	}
	for _, rp := range r.Repair {
		if rp.ChecksumKnown {
			fmt.Fprintf(w, "  repair op %d (checksum %s)\n", rp.Op, rp.Checksum)
		} else {
			fmt.Fprintf(w, "  repair op %d (header unknown)\n", rp.Op)
		}
	}
	counts := ""
	for c := journal.ClassOK; c <= journal.ClassFaulty; c++ {
		if n := r.Count(c); n > 0 {
			counts += fmt.Sprintf(" %s=%d", c, n)
		}
	}
	fmt.Fprintf(w, "  slots:%s\n", counts)
	if which == "none" {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "  %6s %10s %6s %-16s %-15s %-11s %-9s %s\n", "slot", "op", "view", "checksum", "class", "header", "prepare", "decision")
	for i := 0; i < len(r.Slots); i++ {
		s := &r.Slots[i]
		if s.Class == journal.ClassReserved {
			k := i
			for k+1 < len(r.Slots) && r.Slots[k+1].Class == journal.ClassReserved {
				k++
			}
			if which == "all" {
				if k > i {
					fmt.Fprintf(w, "  %6s reserved (%d slots)\n", fmt.Sprintf("%d-%d", i, k), k-i+1)
				} else {
					fmt.Fprintf(w, "  %6d reserved\n", i)
				}
			}
			i = k
			continue
		}
		if which == "problems" && s.Class == journal.ClassOK {
			continue
		}
		op, view, sum := "-", "-", "-"
		if s.Known {
			op, view, sum = fmt.Sprint(s.Op), fmt.Sprint(s.View), checksumPrefix(s.Checksum)
		}
		fmt.Fprintf(w, "  %6d %10s %6s %-16s %-15s %-11s %-9s %s\n", s.Slot, op, view, sum, s.Class, s.Header, s.Prepare, s.Decision)
	}
	fmt.Fprintln(w)
}

func checksumPrefix(u wire.Uint128) string { return u.String()[:16] }

func printGrid(w io.Writer, j *journal.Journal) {
	acquired, total := j.GridUsage()
	fmt.Fprintf(w, "grid: %d of %d blocks acquired (%.1f%%)\n", acquired, total, 100*float64(acquired)/float64(total))
	if err := j.GridFault(); err != nil {
		fmt.Fprintf(w, "  grid fault: %v\n", err)
	}
	if layout, ok := j.CheckpointLayout(); ok {
		for i, b := range layout {
			if b.Size == 0 {
				continue
			}
			fmt.Fprintf(w, "  %-16s %12d bytes in %d data blocks (%d segments), %d index blocks\n",
				journal.RefNames[i]+":", b.Size, b.DataBlocks, b.Segments, b.IndexBlocks)
		}
	}
	if _, err := j.ReadCheckpoint(journal.CheckpointData{}); err != nil {
		fmt.Fprintf(w, "  checkpoint blobs: %v\n", err)
	} else {
		fmt.Fprintln(w, "  checkpoint blobs: all blocks verify")
	}
}
