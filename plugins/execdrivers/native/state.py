"""The native driver's state files: the shared monitor state module (kept importable under its old name)."""

from ..monitoring.state import *  # noqa: F401,F403
from ..monitoring.state import CONTROL_SOCKET, MONITOR_LOG, STATE_FILE  # noqa: F401
