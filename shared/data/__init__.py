"""Data access for entities more than one service reads. Each module names its owning service.

Functions take the store port and speak of the entity (`keys.get_by_value`), never of HTTP or a driver.
"""
