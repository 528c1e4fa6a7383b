"""Drop-in ingress: requests written for ServerChan, PushDeer and Bark, read as iGot pushes.

Each dialect has one module that turns the request's fields into a `PushRequest` (through the same field
rules as native pushes, `services.gateway.push_fields`) and writes answers in the dialect's own shape, so
existing scripts only change the host (and use an iGot push key). Nothing here knows HTTP: the routes are
in `services.gateway.routes.compat`.
"""
