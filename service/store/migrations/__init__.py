"""Alembic migrations, shipped inside the package so `upgrade head` works wherever it is installed."""
