"""Sampling beyond a fixed ``n``: adaptive sampling in waves (:mod:`raydistill.sampling.waves`)."""
