"""Password hashing: argon2id at OWASP's settings; werkzeug hashes of the original verify and upgrade."""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from crumby.auth import add_user, authenticate, hash_password, needs_upgrade, open_auth_store, verify_password
from crumby.auth.passwords import HASHER
from crumby.store.schema import users


def test_new_hashes_are_argon2id_at_owasp_settings():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not needs_upgrade(stored)
    assert HASHER.time_cost == 2 and HASHER.memory_cost == 19456 and HASHER.parallelism == 1


def test_werkzeug_hashes_verify_and_need_upgrade():
    for method in ("pbkdf2:sha256:50000", "pbkdf2:sha1:1000", "pbkdf2:sha256", "scrypt"):
        stored = generate_password_hash("s3cret-pass", method=method)
        assert verify_password(stored, "s3cret-pass"), method
        assert not verify_password(stored, "s3cret-Pass"), method
        assert needs_upgrade(stored)


def test_weaker_argon2_and_garbage_need_upgrade():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-pw-pw-pw")
    assert verify_password(weak, "pw-pw-pw-pw") and needs_upgrade(weak)
    for junk in ("", "plain-text", "md5$x$y", "pbkdf2:nohash:1$a$b", "scrypt:x$a$b", "$argon2id$broken"):
        assert not verify_password(junk, "plain-text")


def test_login_upgrades_an_old_hash(settings):
    store = open_auth_store(settings)
    try:
        with store.begin() as conn:
            old = generate_password_hash("legacy-password", method="pbkdf2:sha256:50000")
            conn.execute(users.insert().values(id=7, username="legacy", password=old))
        assert authenticate(store, "legacy", "wrong-password") is None
        with store.connect() as conn:
            assert conn.execute(sa.select(users.c.password)).scalar_one() == old
        assert authenticate(store, "legacy", "legacy-password") == 7
        with store.connect() as conn:
            upgraded = conn.execute(sa.select(users.c.password)).scalar_one()
        assert upgraded.startswith("$argon2id$") and verify_password(upgraded, "legacy-password")
        assert authenticate(store, "legacy", "legacy-password") == 7
        add_user(store, "fresh", "a-new-password")
        assert authenticate(store, "fresh", "a-new-password") == 8
        assert authenticate(store, "nobody", "a-new-password") is None
    finally:
        store.close()
