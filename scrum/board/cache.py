"""The database cache (the default without REDIS_URL), with increments that cannot be lost:
concurrent logins count their attempts there (logins.py)."""

from django.core.cache.backends import db
from django.db import connections, router, transaction


class DatabaseCache(db.DatabaseCache):
    """Django's database cache whose incr and decr are atomic: the key's row stays locked
    from the read to the write (SELECT ... FOR UPDATE; on SQLite the IMMEDIATE transaction,
    see scrum.py, locks the database). Django's own reads, then writes, unlocked."""

    def incr(self, key, delta=1, version=None):
        """Return the key's value plus delta, stored; ValueError if the key is missing."""
        alias = router.db_for_write(self.cache_model_class)
        with transaction.atomic(using=alias):
            if not self.lock(alias, self.make_and_validate_key(key, version=version)):
                raise ValueError(f"Key '{key}' not found.")  # a row added now is not locked
            return super().incr(key, delta, version)

    def lock(self, alias, key):
        """Lock a key's row until the transaction ends (where the database can lock rows);
        return whether it exists."""
        connection = connections[alias]
        quote_name = connection.ops.quote_name
        sql = f"SELECT 1 FROM {quote_name(self._table)} WHERE {quote_name('cache_key')} = %s"
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            return cursor.fetchone() is not None
