"""How hard a chosen password is to guess offline, and the rule for refusing weak ones.

The estimate is zxcvbn's (dictionaries, keyboard patterns, dates, repeats), in bits. A password
made only of digits and phone punctuation is capped at log2(10^digits): the manual suggests
mobile numbers, and an offline search walks every number of a country in hours, whatever
zxcvbn makes of the digits. Generated passwords never pass through here; they carry 60 bits
or more by construction (access.new_password).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from zxcvbn import zxcvbn

from .errors import WeakPasswordError

MIN_BITS = 50.0  # about 10^15 guesses: years of Argon2id at 64 MiB on one GPU
_PHONE_CHARS = re.compile(r"[\s+().\-/]")
# zxcvbn refuses longer input; a longer password is at least as strong as its start
_MAX_SCORED = 72


def estimate_bits(password: str, user_inputs: Sequence[str] = ()) -> float:
    """Estimated bits of guessing work for ``password``."""
    if not password:
        return 0.0
    bits = zxcvbn(password[:_MAX_SCORED], user_inputs=list(user_inputs))["guesses_log10"] * math.log2(10)
    digits = _PHONE_CHARS.sub("", password)
    if digits.isdigit():
        bits = min(bits, len(digits) * math.log2(10))
    return float(bits)


def check(password: str, *, what: str, weak_ok: bool = False, min_bits: float = MIN_BITS,
          user_inputs: Sequence[str] = ()) -> str | None:
    """Refuse a chosen password below ``min_bits`` unless ``weak_ok``.

    Returns a warning to print when a weak password is accepted with ``weak_ok``, else None.
    """
    bits = estimate_bits(password, user_inputs)
    if bits >= min_bits:
        return None
    reason = (f"the {what} is empty" if not password else
              f"the {what} is weak: about {bits:.0f} bits of guessing work, "
              f"{min_bits:.0f} needed")
    if not weak_ok:
        raise WeakPasswordError(
            reason,
            hint="leave the password out to get a generated one, choose a longer one "
                 "(four or more unrelated words), or pass --weak-ok to keep it anyway")
    return reason + "; kept because --weak-ok was given: an offline search may find it"
