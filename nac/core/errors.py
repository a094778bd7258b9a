"""The `nac` application's error family.

Every error here carries one line meant for an operator; the CLI prints it as
``nac: error: <message>`` and exits 1, without a traceback.
"""

from __future__ import annotations


class NacError(Exception):
    """Base of every error the application reports as one clear line."""


class ConfigError(NacError):
    """Invalid or unreadable configuration (settings, config file, environment)."""


class StartupError(NacError):
    """The server cannot start (port in use, database unreachable, ...)."""


class SecretError(NacError):
    """The key file is missing, unsafe or wrong, or a ciphertext does not decrypt."""


class StorageError(NacError):
    """The database cannot be used (unreachable, not migrated, ...)."""


class NotFoundError(NacError):
    """A named object (user, client, group, endpoint) does not exist."""


class AlreadyExistsError(NacError):
    """A named object with that name already exists."""
