"""The three kinds of people in a team database, and the server roles that carry them.

A team database grants its rights to three group roles, named after the database so that two
services on one server (and the tests' many databases on one cluster) never share a right:
``<database>_entry``, ``<database>_review`` and ``<database>_admin``. A person signs in with their
own login role, a member of exactly one group. The local store has one person with every right.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ENTRY = "entry"  # create and edit records, log calls, end follow-ups
    REVIEW = "review"  # read only: worklist, reports
    ADMIN = "admin"  # everything entry does, plus settings, export, upload, delete, users

    @property
    def can_edit(self) -> bool:
        return self is not Role.REVIEW

    @property
    def can_administer(self) -> bool:
        return self is Role.ADMIN


def group_role(database: str, role: Role) -> str:
    """The server role that holds ``role``'s rights in ``database``."""
    return f"{database}_{role.value}"
