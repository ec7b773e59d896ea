"""Evaluation: a model on benchmarks with a stated protocol, and models side by side.

``raydistill eval conf=NAME`` (:mod:`raydistill.eval.evaluate`) runs the conf's teacher
over the benchmarks of its ``eval`` section (:mod:`raydistill.eval.benchmarks`) as
ordinary runs and writes eval.json and its card; ``raydistill compare``
(:mod:`raydistill.eval.compare`) puts finished evaluations side by side with paired
intervals. The statistics are in :mod:`raydistill.eval.stats`.
"""
