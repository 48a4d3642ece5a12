"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi` (docs/configuration.md).

gunicorn answers a request it refuses to parse with an HTML page of its own. Its limits are set
above the service's, so that a long request line, many headers or a long header reach Django,
whose boundary (crm/http/boundary.py) answers them in the API's JSON envelope (414, 431). What is
left to gunicorn: a request line over 8,190 bytes (its hard maximum: 414), more than 1,000
header fields or one over 16,380 bytes (431), and a request that is not HTTP at all (400): those
still get gunicorn's own small HTML page.

Several instances may run on one host: each has a control socket of its own (below).
"""

import os
import re

limit_request_line = 8190
limit_request_fields = 1000
limit_request_field_size = 16380


# gunicorn 25.1+ opens a control socket for `gunicornc` at one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl). A second instance on the host
# takes that path over (or, starting at the same moment, fails with "Control server error:
# Address already in use"), the first becomes unreachable, and whichever stops first removes
# the other's socket. So each instance gets its own, next to the default and named after its
# first address: `gunicornc -s ~/.gunicorn/gunicorn-127.0.0.1-8000.ctl` for
# --bind 127.0.0.1:8000. `--control-socket PATH` still names one; `--no-control-socket` opens none.
def on_starting(server) -> None:
    setting = server.cfg.settings["control_socket"]
    if setting.value != setting.default:
        return
    address = re.sub(r"[^A-Za-z0-9.]+", "-", server.cfg.bind[0]).strip("-")
    directory = os.path.dirname(setting.default)
    server.cfg.set("control_socket", os.path.join(directory, f"gunicorn-{address}.ctl"))


# A worker that exits (a restart, max_requests, a graceful stop) first publishes the task
# messages its outbox publisher still holds (owners/publisher.py); atexit does it too, this is
# the hook gunicorn documents for it. What is not published in time is left to the sweep.
def worker_exit(server, worker) -> None:
    from owners import publisher

    publisher.flush()
