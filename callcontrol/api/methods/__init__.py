"""The API's methods: one handler per method, one module per service.

Importing this package registers every handler in :data:`METHODS` (see
:mod:`callcontrol.api.methods.table`). A new method is one decorated handler in
the module of its service, plus its params model in ``callcontrol.api.models``.
"""
from callcontrol.api.methods import call_control, session  # noqa: F401  (registers the handlers)
from callcontrol.api.methods.table import METHODS, MethodSpec, Outcome, Request, api_schema, method, settle

__all__ = ["METHODS", "MethodSpec", "Outcome", "Request", "api_schema", "method", "settle"]
