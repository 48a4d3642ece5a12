"""The router of the module position (`/{module}`, `/{module}/{record_id}`), for every dialect.

DRF's SimpleRouter maps GET and POST on a collection; Bigin's record APIs also update (PUT) and
delete (DELETE, `?ids=`) the records of a collection, so the collection route maps those too, to
the `bulk_update` and `bulk_destroy` actions of a ViewSet that has them.
"""

from __future__ import annotations

from rest_framework.routers import Route, SimpleRouter


class ModuleRouter(SimpleRouter):
    routes = [
        route._replace(mapping={**route.mapping, "put": "bulk_update", "delete": "bulk_destroy"})
        if isinstance(route, Route) and route.name == "{basename}-list"
        else route
        for route in SimpleRouter.routes
    ]

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)
