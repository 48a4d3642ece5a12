from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Without a broker (`make run`, `make sandbox`) the serving process runs the outbox itself, each
# entry at its due time and never before the response that created it (owners/scheduler.py).
if settings.CELERY_TASK_ALWAYS_EAGER:
    from owners import scheduler, tasks

    scheduler.start(run=tasks.run_entry, retry_countdown=tasks.retry_countdown, sweep=tasks.sweep)
