"""Claims of the ift paper (filled by the registry work)."""

CLAIMS = ()
