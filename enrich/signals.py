"""Signals other apps listen to, so the table core never imports them."""

from django.dispatch import Signal

# Sent after one cell was written by a user, inside the write's transaction.
# Arguments: ``row`` (with the new value in ``row.values``) and ``column``.
cell_written = Signal()

# Sent after many cells were written at once (a paste, a clear, an undo), inside the write's
# transaction. Arguments: ``table`` and ``changes``: {row id: set of the column keys written}.
cells_written = Signal()

# Sent after a table was duplicated, with ``source`` and ``copy`` (columns already copied
# with the same keys), so apps that hang data on columns can copy theirs.
table_duplicated = Signal()
