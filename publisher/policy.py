"""How the publisher paces itself: every tunable declared once, with its default.

These are not clinic settings (they are the same for every clinic); each can be overridden
through an environment variable so tests and operators can shorten the grace period or the
backoff without code changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Mapping

ENV_PREFIX = "CHARTSEAL_PUBLISH_"


@dataclass(frozen=True)
class Policy:
    # Superseded objects stay this long so viewers with an open page keep working.
    grace_seconds: float = 15 * 60
    # At most this many deletes per run: a plan bug can never empty a bucket in one go.
    delete_cap: int = 1000
    # Parallel uploads (S3 latency dominates; the client pool is sized to match).
    workers: int = 16
    # Groups claimed per round: progress is committed in small parts.
    batch_groups: int = 200
    # A job leased by a live worker is left alone this long (renewed while it runs).
    lease_seconds: float = 120.0
    # Retry delay after the n-th failure: min(cap, base * 2**(n-1)), with jitter.
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    # A run gives up on a job after this many failures; it stays queued for the next run.
    attempts_per_run: int = 5
    # Requests the S3 client itself retries before a job counts one failure.
    s3_attempts: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Policy":
        """Defaults, overridden by CHARTSEAL_PUBLISH_<FIELD> variables."""
        return cls(**env_numbers(cls, ENV_PREFIX, environ))


def env_numbers(cls: type, prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The numeric fields of dataclass ``cls`` set by ``<prefix><FIELD>`` variables.

    Raises ValueError naming the variable when one is not a number.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):
        text = env.get(prefix + f.name.upper())
        if text is None:
            continue
        kind = int if isinstance(f.default, int) else float
        try:
            values[f.name] = kind(text)
        except ValueError:
            raise ValueError(f"{prefix}{f.name.upper()}: expected a number, got {text!r}") from None
    return values
