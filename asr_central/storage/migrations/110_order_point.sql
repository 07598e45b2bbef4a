-- The order point each line was judged against (days of cover): the fixed rule's lead
-- time or the service rule's own per supply, so staff can see why a line was ordered when
-- it was. Lines placed before this migration have none (NULL).
ALTER TABLE order_lines ADD COLUMN order_point_days REAL;
