"""The worker's first name, kept for deployments and scripts that run it: see `worker`."""

from pledges.management.commands.worker import Command  # noqa: F401
