"""The pages, APIs and sockets you add to the project, and their routes: app.py serves these
after its own and its modules' routes.

`tornado-scaffold add page|api|socket|model NAME` writes the handler in handlers/ and
registers it here, with an import and a line in ROUTES; register your own the same way.
tornado-scaffold writes this file once and never changes it again (copier.yml's
_skip_if_exists), so `tornado-scaffold update` keeps everything registered here.
"""

import tornado.web

ROUTES: list[tornado.web.URLSpec] = [
    # e.g. tornado.web.url(r"/faq", FaqHandler, name="faq"),
]
