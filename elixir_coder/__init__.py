"""Elixir Coder: the public Python API.

Re-exports the few names users need; the logic lives in the stage packages (DESIGN.md).
"""

from ontologies import EC, OTP, TEST, QUALITY, SECURITY

__version__ = "0.1.0"

__all__ = ["EC", "OTP", "TEST", "QUALITY", "SECURITY", "__version__"]
