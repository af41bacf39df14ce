"""Claims of the riesz paper (filled by the registry work)."""

CLAIMS = ()
