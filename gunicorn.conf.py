"""gunicorn settings for ICHweb (gunicorn reads ./gunicorn.conf.py; the Dockerfile names it with -c).

gunicorn has no setting for its ``Server`` response header: it sends the module-level name
``gunicorn.http.wsgi.SERVER``, looked up for every response. This file runs in the master before the
workers fork, so replacing the name here keeps the product and version off every answer.
"""

import gunicorn
import gunicorn.http.wsgi

#: What ``Server:`` says (no product, no version).
SERVER_HEADER = "ichweb"

gunicorn.SERVER = SERVER_HEADER
gunicorn.SERVER_SOFTWARE = SERVER_HEADER
gunicorn.http.wsgi.SERVER = SERVER_HEADER
gunicorn.http.wsgi.SERVER_SOFTWARE = SERVER_HEADER
