"""Storage: SQLModel tables, async engine, keyword-only async crud, Alembic migrations."""
