"""The home page."""

from handlers.base import BaseHandler


class MainHandler(BaseHandler):
    def get(self) -> None:
        self.render("index.html")
