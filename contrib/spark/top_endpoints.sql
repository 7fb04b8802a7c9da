-- The endpoints that stand out in connection records (docs/records.md), over a view named
-- `records` with a `sensor` column; the same text runs in Spark SQL and in DuckDB. One row
-- per (ranking, endpoint), most first (then by endpoint):
--   rst_sent    an address, by the RST packets it sent (as originator or responder);
--   refusals    a server address and port, by the connections it refused (SYN → RST);
--   unanswered  a server address and port, by the connections whose SYNs it never answered.
-- `sensors` is how many sensors saw it. A server is written address:port, an IPv6
-- address in brackets.
WITH rst_sent AS (
  SELECT id_orig_h AS endpoint, synack_orig_rst AS n, sensor FROM records WHERE synack_orig_rst > 0
  UNION ALL
  SELECT id_resp_h, synack_resp_rst, sensor FROM records WHERE synack_resp_rst > 0
),
servers AS (
  SELECT
    CASE WHEN id_resp_h LIKE '%:%'
         THEN concat('[', id_resp_h, ']:', CAST(id_resp_p AS STRING))
         ELSE concat(id_resp_h, ':', CAST(id_resp_p AS STRING)) END AS endpoint,
    synack_close AS close, sensor
  FROM records
  WHERE synack_close IN ('refused', 'unanswered')
),
rankings AS (
  SELECT 'rst_sent' AS ranking, endpoint, sum(n) AS count, count(DISTINCT sensor) AS sensors
  FROM rst_sent GROUP BY endpoint
  UNION ALL
  SELECT 'refusals', endpoint, count(*), count(DISTINCT sensor)
  FROM servers WHERE close = 'refused' GROUP BY endpoint
  UNION ALL
  SELECT 'unanswered', endpoint, count(*), count(DISTINCT sensor)
  FROM servers WHERE close = 'unanswered' GROUP BY endpoint
)
SELECT ranking, endpoint, count, sensors FROM rankings
ORDER BY ranking, count DESC, endpoint
