"""Who may log in: user names, Argon2 password hashes (argon2-cffi) and roles, in the app's database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from flexaqa.web.settings import WebError

ROLES = ("annotator", "reviewer", "admin")
# What each role may do; a page or API route names the permission it needs.
PERMISSIONS = {
    "annotator": {"coach", "data", "label"},
    "reviewer": {"coach", "data", "label", "review"},
    "admin": {"coach", "data", "label", "review", "admin"},
}


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


class UserStore:
    """Users in the table ``web_users`` of the database at ``url`` (SQLite file or PostgreSQL server)."""

    def __init__(self, url: str):
        self._hasher = PasswordHasher()
        self.engine = sa.create_engine(url, future=True)
        meta = sa.MetaData()
        self.table = sa.Table(
            "web_users",
            meta,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("password_hash", sa.String(256), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        meta.create_all(self.engine)
        # a hash to verify against when the user is unknown, so a wrong name costs the same time as a wrong password
        self._dummy = self._hasher.hash("flexaqa-no-such-user")

    def add(self, name: str, password: str, role: str) -> User:
        name = name.strip()
        if (
            not name
            or len(name) > 64
            or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
        ):
            raise WebError(f"user name {name!r}: use 1-64 letters, digits, '-', '_' or '.'")
        if role not in ROLES:
            raise WebError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise WebError(f"password of {name!r}: at least 8 characters")
        with self.engine.begin() as con:
            if con.execute(sa.select(self.table.c.name).where(self.table.c.name == name)).first():
                raise WebError(f"user {name!r} exists already")
            con.execute(
                self.table.insert().values(
                    name=name,
                    password_hash=self._hasher.hash(password),
                    role=role,
                    created_at=dt.datetime.now(dt.timezone.utc),
                )
            )
        return User(name, role)

    def get(self, name: str) -> User | None:
        with self.engine.connect() as con:
            row = con.execute(sa.select(self.table).where(self.table.c.name == name)).first()
        return None if row is None else User(row.name, row.role)

    def list(self) -> list[User]:
        with self.engine.connect() as con:
            rows = con.execute(sa.select(self.table).order_by(self.table.c.name)).all()
        return [User(r.name, r.role) for r in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else ``None`` (the same work whether or not the name exists)."""
        with self.engine.connect() as con:
            row = con.execute(sa.select(self.table).where(self.table.c.name == name)).first()
        try:
            self._hasher.verify(row.password_hash if row else self._dummy, password)
        except VerificationError:
            return None
        return None if row is None else User(row.name, row.role)
