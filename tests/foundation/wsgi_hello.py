"""A bare WSGI app for starting gunicorn with the project's gunicorn.conf.py in a test."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
