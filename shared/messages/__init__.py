"""Bus message models: frozen, versioned pydantic models, one module per family.

Adding an optional field keeps the version; a breaking change adds a new model (and so a new routing key),
and consumers accept N and N-1 during a rollout.
"""
