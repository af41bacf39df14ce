"""Flow schemes: one module per paper (``ift``, ``mmd_fdiv``, ``riesz``, ``variational``)."""
