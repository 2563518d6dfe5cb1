from tests.e2e.conftest import _plain_http_live_server  # noqa: F401 -- the live server speaks plain HTTP
