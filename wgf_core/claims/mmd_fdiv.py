"""Claims of the mmd_fdiv paper (filled by the registry work)."""

CLAIMS = ()
