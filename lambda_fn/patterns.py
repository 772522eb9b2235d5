"""Shapes of configuration values that both the function and the CDK app check (no imports).

Unanchored: ``re.fullmatch`` uses them as they are; pydantic fields wrap them in ``^…$``.
"""

STAGE = r"[a-z][a-z0-9_-]{0,31}"
# ALLOWED_URL_HOSTS holds host-name globs (fnmatch), never URLs: no scheme, port or path.
HOST_GLOB = r"[A-Za-z0-9*?\[\]!.-]+"
MIN_ATTEMPT_BUDGET_S = 1.0
MAX_ATTEMPT_BUDGET_S = 60.0


def anchored(pattern: str) -> str:
    """The whole value must match: pydantic's ``pattern`` otherwise searches."""
    return f"^{pattern}$"
