"""The daemon's web server: the installer's phone page and the visibility API (docs/web.md)."""

from concentratord.web.auth import Principal, TokenFileError
from concentratord.web.server import MeterView, WebServer

__all__ = ["MeterView", "Principal", "TokenFileError", "WebServer"]
