"""What a clean console must not show."""

from __future__ import annotations


def unactionable(lines: list[str]) -> list[str]:
    """Lines of Ray's a user can do nothing about (the two the demo used to print)."""
    return [line for line in lines if "core_worker" in line or "Traceback" in line
            or "Token authentication is enabled" in line]
