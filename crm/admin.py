from . import admin_oauth  # noqa: F401
