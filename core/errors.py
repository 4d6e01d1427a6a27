"""Errors that carry what the user needs: what failed, on which object, and the HTTP status.

The API layer turns any :class:`BerthError` into Docker's ``{"message": ...}`` body
with :attr:`BerthError.status`; the CLI prints the message and exits 1 (125 for
``run``/``create``, as Docker does).
"""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error the engine reports to a client."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(BerthError):
    """The request is malformed or asks for something impossible (400)."""

    status = 400


class NotFound(BerthError):
    """An object named in the request does not exist (404)."""

    status = 404


class Forbidden(BerthError):
    """The operation is refused for the object as it is now (403), e.g. removing a network with active endpoints."""

    status = 403


class Conflict(BerthError):
    """The object's state forbids the operation (409)."""

    status = 409


class Unclassified(BerthError):
    """A refusal dockerd reports as a plain error, so its clients see 500 (e.g. disconnecting a container
    from a network it is not connected to). Kept as 500 because clients can tell the status apart."""


class NotModified(BerthError):
    """Nothing to do: Docker answers 304 when starting a running container or stopping a stopped one."""

    status = 304


class Unavailable(BerthError):
    """The daemon cannot serve the request in its current mode, e.g. swarm routes outside a swarm (503)."""

    status = 503


class NotImplementedYet(BerthError):
    """A Docker API feature berth does not implement yet (501)."""

    status = 501


class NotSupported(NotImplementedYet):
    """A driver cannot do this operation, here or at all (501).

    The one way a driver says "not supported" (see :mod:`berth.hookspecs`): it
    raises this from the hook, never returns None. The message says why; the
    engine adds the driver's name and the operation.
    """


class ConfigError(BerthError):
    """The daemon cannot start with the given configuration."""

    status = 500


class DriverError(BerthError):
    """A driver failed; the message names the driver and the object."""


class UnsafeArchive(InvalidArgument):
    """A tar stream tried to write outside its target or holds forbidden entries."""


class ExecError(BerthError):
    """The container's process could not be started.

    ``exit_code`` follows Docker: 126 when the command cannot be invoked,
    127 when it is not found.
    """

    def __init__(self, message: str, exit_code: int = 126):
        super().__init__(message)
        self.exit_code = exit_code
