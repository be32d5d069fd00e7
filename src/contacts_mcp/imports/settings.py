"""Server configuration for imports: where files may come from, where records go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contacts_mcp.imports.files import FilePolicy
from contacts_mcp.services.retention import Retention

__all__ = ["ImportSettings"]


@dataclass(frozen=True)
class ImportSettings:
    """Server configuration for imports (not chosen by the model)."""

    files: FilePolicy
    state_dir: Path
    row_concurrency: int = 4
    # Each uploaded part stays under the smallest limit Resend's sources quote (50 MB).
    api_part_bytes: int = 45 * 1024 * 1024
    api_poll_interval: float = 1.0
    # Row-by-row: extra passes over a row whose requests kept failing transiently.
    row_attempts: int = 3
    # Consecutive rows failing transiently before the import stops (and can resume).
    circuit_breaker: int = 20
    # How long each kind of local data in `state_dir` is kept (services.retention).
    retention: Retention = field(default_factory=Retention)
