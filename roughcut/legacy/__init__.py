"""`roughcut import-legacy`: bring the old Vlanet / VRidge (Django) database into roughcut, again and again.

source.py reads the old schema (reflection, keyset pages), rules.py maps old rows to roughcut rows
(pure functions), targets.py writes them, mapping.py keeps old table + old id → new id, report.py counts
and checksums, run.py runs the tables in order, one transaction per batch.
"""
