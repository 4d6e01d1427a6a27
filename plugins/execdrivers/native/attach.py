"""The native driver's attach framing: the shared monitor module (kept importable under its old name)."""

from ..monitoring.attach import *  # noqa: F401,F403
from ..monitoring.attach import MAX_BACKLOG, STDERR, STDOUT, AttachClient, frame  # noqa: F401
