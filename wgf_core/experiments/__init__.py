"""Experiment drivers: what a notebook configures and calls (targets, grids, problem laws), tested at unit level."""
