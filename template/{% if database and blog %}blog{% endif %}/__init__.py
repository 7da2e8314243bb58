"""The blog module, after Tornado's demos/blog: signed-in authors write entries in Markdown;
everyone reads them at /blog (newest first), /blog/entry/<slug>, /blog/archive and the Atom
feed /blog/feed.

``models.py`` holds the entries table, ``text.py`` what makes authors' text safe to show
(Markdown to sanitised HTML, titles to slugs), ``handlers.py`` the pages. Below: the
module's part in app.py.
"""

import tornado.web

import modules
from blog.handlers import ArchiveHandler, ComposeHandler, EntryHandler, FeedHandler, HomeHandler


class Blog(modules.Module):
    """The blog's pages; its entries live in the app's database (``app.db``)."""

    nav = (("Blog", "blog_home"),)

    def routes(self) -> list[tornado.web.URLSpec]:
        return [
            tornado.web.url(r"/blog", HomeHandler, name="blog_home"),
            tornado.web.url(r"/blog/entry/([^/]+)", EntryHandler, name="blog_entry"),
            tornado.web.url(r"/blog/archive", ArchiveHandler, name="blog_archive"),
            tornado.web.url(r"/blog/feed", FeedHandler, name="blog_feed"),
            tornado.web.url(r"/blog/compose", ComposeHandler, name="blog_compose"),
        ]
