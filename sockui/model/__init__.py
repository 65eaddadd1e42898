"""Pure data: socket records, snapshots, filters, pairing and text formatting."""
