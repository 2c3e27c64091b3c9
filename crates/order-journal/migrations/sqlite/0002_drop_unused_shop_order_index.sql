-- `amendments_by_shop_order` served no query: amendments are looked up by idempotency key,
-- listed by order (`amendments_by_order`) or by state (`amendments_by_state`), and the last
-- revision of a shop's order is read from `revisions`' primary key. With one entry per
-- amendment spread over every shop, the index only cost each intent another random B-tree
-- page to write (issue 8). Portable as is to PostgreSQL.
DROP INDEX IF EXISTS amendments_by_shop_order;
