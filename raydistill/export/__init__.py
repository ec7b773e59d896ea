"""Trainer-ready exports of a finished run: ``python -m raydistill.export URI format=NAME``."""
