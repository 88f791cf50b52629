"""``sfeventlog bench``: the whole write path measured against its limits.

One module per figure group; each measures its figures next to a reference
taken in the same run (interleaved round by round, so drift and neighbours'
load hit both alike) and returns ``Figure`` objects with a ratio and, where
issue 7 sets one, a target.  ``runner`` orders the groups and prints the
table; docs/performance.md records a full run.
"""
