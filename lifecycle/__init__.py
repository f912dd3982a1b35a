"""Model lifecycle: aliases (stable, canary), sticky A/B arms, kill switches, the audit log,
drift and feedback. Shared by the CLI (which acts on a running server through the shared
state) and the host (which reads that state every half second).

- ``store``: where the state lives (a SQLite file under the models directory, or Redis);
- ``assign``: the deterministic, documented hashing of clients to arms;
- ``aliases``: the verbs (promote, canary, rollback, fallback) with their checks.
"""
