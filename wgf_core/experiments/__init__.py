"""Experiment drivers of the papers: each builds energies and schemes and runs them with :func:`wgf_core.runner.run`."""
