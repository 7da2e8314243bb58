"""The blog's pages: home (newest first), an entry, the archive, the Atom feed, and compose
for signed-in authors (``?id=`` edits one of their own entries).

Every query runs in ``async with self.application.db.session()``, which turns a database
that does not answer into a 503 page.
"""

from datetime import datetime, timezone
from typing import Any

import sqlalchemy.exc
import tornado.web
from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tornado.httputil import url_concat
from tornado.ioloop import IOLoop

from blog.models import MAX_SLUG, MAX_TITLE, Entry
from blog.text import MAX_MARKDOWN, one_line, slugify, to_html, xml_text
from db.models import User, now
from handlers.base import BaseHandler

HOME_PAGE_SIZE = 5  # entries per home page, shown in full
ARCHIVE_PAGE_SIZE = 50  # titles per archive page
FEED_SIZE = 10  # newest entries in the feed
MAX_PAGE = 100_000  # beyond it, no blog has entries: a 404 without asking the database
MAX_ID = 2**31 - 1  # the largest id an Integer column holds on PostgreSQL
# Tries to store a new entry. A try fails only when another request stored the slug it chose
# since it looked, each time another one: so 10 tries outlast 10 entries of one title at once.
SLUG_ATTEMPTS = 10
# Entries with their author's name, as the home page, an entry's page and the feed show them
# (a statement is immutable: each use builds on it without changing it).
WITH_AUTHOR = select(Entry, User.name).join(User)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (SQLite gives back naive datetimes: they were stored in UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def newest_first(query: Select[Any], page: int, size: int) -> Select[Any]:
    """Page ``page`` (from 1) of ``query``'s entries, newest first, and one more row: when
    that one comes back there is an older page."""
    order = (Entry.published.desc(), Entry.id.desc())  # id: a stable order for equal times
    return query.order_by(*order).offset((page - 1) * size).limit(size + 1)


async def free_slug(session: AsyncSession, title: str) -> str:
    """The title's slug, or the first of slug-2, slug-3... that no entry has yet."""
    base = slugify(title)
    query = select(Entry.slug).where(
        or_(Entry.slug == base, Entry.slug.startswith(f"{base}-", autoescape=True))
    )
    taken = set((await session.scalars(query)).all())
    slug, number = base, 1
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    return slug


class BlogHandler(BaseHandler):
    """What the blog's pages share: the page number, the signed-in author, absolute URLs."""

    def page_number(self) -> int:
        """The ``page`` argument (1 when absent): 400 unless a whole number from 1."""
        page = self.get_argument("page", "1")
        digits = page.lstrip("0")
        if not page.isascii() or not page.isdigit() or not digits:
            raise tornado.web.HTTPError(400, "page must be a whole number from 1")
        # Its length first: int() refuses strings of thousands of digits (a 500).
        if len(digits) > len(str(MAX_PAGE)) or int(digits) > MAX_PAGE:
            raise tornado.web.HTTPError(404)
        return int(digits)

    async def render_page(self, template: str, query: Select[Any], size: int) -> None:
        """The ``page`` argument's page of ``query``'s entries, newest first, ``size`` of them,
        saying whether an older page follows; a 404 past the last page."""
        page = self.page_number()
        async with self.application.db.session() as session:
            rows = (await session.execute(newest_first(query, page, size))).all()
        if page > 1 and not rows:
            raise tornado.web.HTTPError(404)
        self.render(template, entries=rows[:size], page=page, older=len(rows) > size)

    def author_id(self) -> int:
        """The signed-in user's id (users.id). Visitors asking for a page go to the login page
        and come back; other requests, and every request when sign-in is off, get a 403."""
        uid = (self.current_user or {}).get("uid")
        if isinstance(uid, int) and not isinstance(uid, bool):
            return uid
        login_url = self.settings.get("login_url")
        if self.request.method in ("GET", "HEAD") and login_url:
            self.redirect(url_concat(login_url, {"next": self.request.uri}))
            raise tornado.web.Finish()
        raise tornado.web.HTTPError(403, "sign in to write entries")

    def absolute(self, path: str) -> str:
        """``path`` on this site as a full URL (--xheaders: as the proxy in front received it)."""
        return f"{self.request.protocol}://{self.request.host}{path}"

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        uid = (self.current_user or {}).get("uid")
        namespace["can_edit"] = lambda entry: uid is not None and entry.author_id == uid
        namespace["utc"] = utc
        return namespace


class HomeHandler(BlogHandler):
    async def get(self) -> None:
        await self.render_page("blog/home.html", WITH_AUTHOR, HOME_PAGE_SIZE)


class EntryHandler(BlogHandler):
    async def get(self, slug: str) -> None:
        if len(slug) > MAX_SLUG or not slug.isprintable():
            # No entry has such an address; PostgreSQL would refuse a NUL with an error (a 500).
            raise tornado.web.HTTPError(404)
        query = WITH_AUTHOR.where(Entry.slug == slug)
        async with self.application.db.session() as session:
            row = (await session.execute(query)).first()
        if row is None:
            raise tornado.web.HTTPError(404)
        self.render("blog/entry.html", entry=row.Entry, author=row.name)


class ArchiveHandler(BlogHandler):
    async def get(self) -> None:
        columns = select(Entry.id, Entry.slug, Entry.title, Entry.published)
        await self.render_page("blog/archive.html", columns, ARCHIVE_PAGE_SIZE)


class FeedHandler(BlogHandler):
    """The newest entries as an Atom feed (RFC 4287), every link a full URL."""

    async def get(self) -> None:
        query = newest_first(WITH_AUTHOR, 1, FEED_SIZE)
        async with self.application.db.session() as session:
            rows = (await session.execute(query)).all()[:FEED_SIZE]
        updated = max((utc(row.Entry.updated) for row in rows), default=None)
        self.set_header("Content-Type", "application/atom+xml; charset=UTF-8")
        self.render(
            "blog/feed.xml",
            entries=rows,
            updated=updated or datetime.now(timezone.utc),
            xml_text=xml_text,
            atom_date=lambda moment: utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


class ComposeHandler(BlogHandler):
    """A new entry, or with ``id`` (in the query or the form) an edit of one's own entry."""

    async def get(self) -> None:
        author_id = self.author_id()
        entry = await self.own_entry(author_id)
        title, markdown = (entry.title, entry.markdown) if entry else ("", "")
        self.render_form(entry, title, markdown, error=None)

    async def post(self) -> None:
        author_id = self.author_id()
        entry = await self.own_entry(author_id)
        title = one_line(self.get_argument("title", ""))
        # Browsers send a textarea's line breaks as CRLF; its maxlength counts them as one.
        markdown = self.get_argument("markdown", "", strip=False).replace("\r\n", "\n")
        error = self.refusal(title, markdown)
        if error:
            self.set_status(400)
            self.render_form(entry, title, markdown, error=error)
            return
        # Up to a second of work for the longest, most contrived texts: off the event loop.
        html = await IOLoop.current().run_in_executor(None, to_html, markdown)
        if entry is None:
            slug = await self.publish(author_id, title, markdown, html)
        else:
            slug = entry.slug  # an entry keeps its address when its title changes
            change = {"title": title, "markdown": markdown, "html": html, "updated": now()}
            async with self.application.db.session() as session:
                await session.execute(update(Entry).where(Entry.id == entry.id).values(change))
                await session.commit()
        self.redirect(self.reverse_url("blog_entry", slug))

    @staticmethod
    def refusal(title: str, markdown: str) -> str | None:
        """Why the form cannot be saved as it is, or None."""
        if not title:
            return "Give the entry a title."
        if len(title) > MAX_TITLE:
            return f"The title is {len(title):,} characters long: at most {MAX_TITLE:,}, please."
        if not markdown.strip():
            return "Write the entry's text."
        if len(markdown) > MAX_MARKDOWN:
            return f"The text is {len(markdown):,} characters long: at most {MAX_MARKDOWN:,}."
        return None

    async def own_entry(self, author_id: int) -> Entry | None:
        """The entry the ``id`` argument names: 404 if there is none, 403 if another
        author wrote it; None without ``id`` (a new entry)."""
        entry_id = self.get_argument("id", "")
        if not entry_id:
            return None
        # No entry has an id beyond MAX_ID, and PostgreSQL would refuse it as an Integer
        # (a 500): its length first, since int() refuses thousands of digits.
        if not entry_id.isascii() or not entry_id.isdigit() or len(entry_id) > len(str(MAX_ID)):
            raise tornado.web.HTTPError(404)
        if int(entry_id) > MAX_ID:
            raise tornado.web.HTTPError(404)
        async with self.application.db.session() as session:
            entry = await session.get(Entry, int(entry_id))
        if entry is None:
            raise tornado.web.HTTPError(404)
        if entry.author_id != author_id:
            raise tornado.web.HTTPError(403, "only its author edits an entry")
        return entry

    async def publish(self, author_id: int, title: str, markdown: str, html: str) -> str:
        """Store a new entry under a free slug; return the slug."""
        for _ in range(SLUG_ATTEMPTS):
            async with self.application.db.session() as session:
                if await session.get(User, author_id) is None:
                    raise tornado.web.HTTPError(403, "the signed-in account no longer exists")
                slug = await free_slug(session, title)
                session.add(
                    Entry(author_id=author_id, slug=slug, title=title, markdown=markdown, html=html)
                )
                try:
                    await session.commit()
                except sqlalchemy.exc.IntegrityError:
                    # Another request stored an entry with this slug since we looked (the
                    # unique constraint refused ours, whole): look again.
                    await session.rollback()
                    continue
            return slug
        raise tornado.web.HTTPError(503, "the entry's address stayed taken: try again")

    def render_form(self, entry: Entry | None, title: str, markdown: str, error: str | None):
        self.render(
            "blog/compose.html",
            entry=entry,
            title=title,
            markdown=markdown,
            error=error,
            max_title=MAX_TITLE,
            max_markdown=MAX_MARKDOWN,
        )
