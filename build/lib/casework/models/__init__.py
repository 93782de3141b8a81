"""The system of record: ORM tables, store functions per entity, Pydantic schemas and
the stage forms, and the lifecycle declaration they all read."""
