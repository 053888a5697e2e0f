"""Protection of sensitive data: envelope encryption of sensitive fields (``crypto``), the sealed column
type (``store.types``), and the blind search index. MFA, the audit chain, retention and backups build
on these."""
