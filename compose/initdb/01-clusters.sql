-- One event-log database per cluster (DESIGN.md, "Multi-cluster"). Run once by the postgres image
-- on an empty data volume; `ledgerca migrate` creates the schema in each.
CREATE DATABASE ledgerca_dc1 OWNER ledgerca;
CREATE DATABASE ledgerca_dc2 OWNER ledgerca;
