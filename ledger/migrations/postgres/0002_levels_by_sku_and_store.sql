-- A sku's levels across stores, in store order (availability), and an
-- exact look-up of one (store, sku) whichever of the two indexes a generic
-- plan picks: the writer reads a group's levels with one statement whose
-- keys the planner cannot see, and with `(sku)` alone it could choose to
-- walk every store's level of a sku.
DROP INDEX stock_levels_by_sku;
CREATE INDEX stock_levels_by_sku ON stock_levels (sku, store_id);
