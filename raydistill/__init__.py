"""raydistill: verified reasoning-trace datasets on Ray Data and vLLM."""

__version__ = "0.1.0"
