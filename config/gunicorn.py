"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi` (README: Production).

gunicorn answers a request it refuses to parse with an HTML page of its own. Its limits are set
above the service's, so that a long request line, many headers or a long header reach Django,
whose boundary (crm/http/boundary.py) answers them in the API's JSON envelope (414, 431). What is
left to gunicorn: a request line over 8,190 bytes (its hard maximum: 414), more than 1,000
header fields or one over 16,380 bytes (431), and a request that is not HTTP at all (400): those
still get gunicorn's own small HTML page.
"""

limit_request_line = 8190
limit_request_fields = 1000
limit_request_field_size = 16380
