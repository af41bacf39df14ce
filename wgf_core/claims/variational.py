"""Claims of the variational paper (filled by the registry work)."""

CLAIMS = ()
