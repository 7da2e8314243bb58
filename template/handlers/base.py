"""The base class every page handler derives from."""

from typing import Any

import tornado.web


class BaseHandler(tornado.web.RequestHandler):
    """Shared behaviour: the drain counter, template namespace and error pages."""

    _counted = False

    def prepare(self) -> None:
        self.application.requests_in_flight += 1  # type: ignore[attr-defined]
        self._counted = True

    def on_finish(self) -> None:
        if self._counted:
            self.application.requests_in_flight -= 1  # type: ignore[attr-defined]
            self._counted = False

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["project_name"] = self.settings["project_name"]
        # (label, route name) pairs for the header; make_app() fills them per enabled module.
        namespace["nav"] = self.settings.get("nav", ())
        return namespace

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            return super().write_error(status_code, **kwargs)  # debug mode only
        self.render("error.html", status_code=status_code, reason=self._reason)


class NotFoundHandler(BaseHandler):
    """Answers every unknown path with the custom 404 page."""

    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404)
