"""The blog's table: its entries, each kept both as its author wrote it (Markdown) and as
pages show it (sanitised HTML, made once when it is saved rather than on every view).

A change here needs its migration (see db/models.py): ``alembic check`` says whether they agree.
"""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, now

MAX_TITLE = 200  # characters
MAX_SLUG = 100  # characters: blog.text.slugify() makes at most 80, the rest is for "-2", "-3"...


class Entry(Base):
    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An author's entries go with their account.
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The entry's address (/blog/entry/<slug>), made from its first title and then kept.
    slug: Mapped[str] = mapped_column(String(MAX_SLUG), unique=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    markdown: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    # Indexed: every list of entries is ordered by it, newest first.
    published: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
