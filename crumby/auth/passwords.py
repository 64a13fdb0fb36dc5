"""Password hashes: argon2id for new ones; the original Crumby's werkzeug hashes still verify.

argon2id at OWASP's first recommended setting (19 MiB of memory, 2 passes,
1 lane). A hash made with weaker settings or an older scheme is reported by
:func:`needs_upgrade`, so a successful login can store a fresh one.
"""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)

# werkzeug's default before it wrote the iteration count into the hash.
LEGACY_PBKDF2_ITERATIONS = 1000


def hash_password(password: str) -> str:
    """A new argon2id hash of ``password`` (the PHC string, salt and settings included)."""
    return HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (argon2, or werkzeug ``pbkdf2:``/``scrypt:``)."""
    if stored.startswith("$argon2"):
        try:
            return HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return _verify_werkzeug(stored, password)


def needs_upgrade(stored: str) -> bool:
    """Whether ``stored`` should be replaced by a fresh hash (older scheme or weaker settings)."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_werkzeug(stored: str, password: str) -> bool:
    """Check a ``method$salt$hexdigest`` string as werkzeug's generate_password_hash wrote it."""
    try:
        method, salt, expected = stored.split("$", 2)
    except ValueError:
        return False
    salt_bytes, secret = salt.encode(), password.encode()
    try:
        if method.startswith("pbkdf2:"):
            parts = method.split(":")
            digest = parts[1]
            iterations = int(parts[2]) if len(parts) > 2 else LEGACY_PBKDF2_ITERATIONS
            actual = hashlib.pbkdf2_hmac(digest, secret, salt_bytes, iterations).hex()
        elif method.startswith("scrypt:"):
            n, r, p = (int(x) for x in method.split(":")[1:4])
            actual = hashlib.scrypt(
                secret, salt=salt_bytes, n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
            ).hex()
        else:
            return False
    except (ValueError, IndexError):  # unknown digest name, malformed numbers
        return False
    return hmac.compare_digest(actual, expected)
