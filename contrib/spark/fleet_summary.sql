-- synack's summary (src/model/summary.rs, docs/metrics.md) in SQL, over connection records
-- in synack's Parquet schema (docs/records.md): one row per group `grp` of a view named
-- `records` (the records with a `grp` column: a constant for the whole fleet, or the
-- sensor, or the capture set). The same text runs in Spark SQL and in DuckDB.
--
-- Records are in Zeek's originator/responder terms; the summary's client/server split
-- follows `synack_orig_is_client` (the originator is synack's client).
--
-- Percentiles are nearest-rank, as synack's: of the n values sorted ascending, the p-th
-- percentile is the value at 1-based rank max(1, ceil(p·n/100)) — the smallest value with
-- at least p% of the values at or below it. (synack itself switches to a 1%-wide
-- histogram past 65,536 samples in one run; an archive's SQL stays exact.)
WITH r AS (
  SELECT
    grp,
    synack_close AS close,
    CAST(synack_midstream AS INT) AS midstream,
    CAST(synack_abnormal AS INT) AS abnormal,
    synack_syn_retransmits AS syn_retransmits,
    synack_synack_retransmits AS synack_retransmits,
    -- attempted: the client's SYN was seen (not merely "not midstream": a connection
    -- first seen at its SYN/ACK is neither)
    CAST(synack_handshake_attempted AS INT) AS attempted,
    -- completed: the SYN was seen and the handshake completed, which is when the connect
    -- time (first SYN → completing ACK) is measured
    CASE WHEN synack_connect IS NOT NULL THEN 1 ELSE 0 END AS completed,
    synack_orig_rst + synack_resp_rst AS rst,
    CASE WHEN synack_orig_is_client THEN synack_orig_rst ELSE synack_resp_rst END AS rst_client,
    CASE WHEN synack_orig_is_client THEN synack_resp_rst ELSE synack_orig_rst END AS rst_server,
    synack_rst_answering_syn AS rst_answering_syn,
    synack_orig_fin + synack_resp_fin AS fin,
    CASE WHEN synack_time_wait = 'both'
           OR synack_time_wait = (CASE WHEN synack_orig_is_client THEN 'orig' ELSE 'resp' END)
         THEN 1 ELSE 0 END AS tw_client,
    CASE WHEN synack_time_wait = 'both'
           OR synack_time_wait = (CASE WHEN synack_orig_is_client THEN 'resp' ELSE 'orig' END)
         THEN 1 ELSE 0 END AS tw_server,
    CASE WHEN synack_closed_by = 'both' AND synack_time_wait = 'both' THEN 1 ELSE 0 END AS simultaneous,
    CAST(synack_time_wait_reused AS INT) AS tw_reused,
    synack_keepalive_probes AS ka_probes,
    synack_keepalive_acks AS ka_acks,
    synack_keepalive_unanswered AS ka_unanswered,
    synack_zero_window_probes AS zwp,
    -- issue 20's evidence figures, both sides (docs/metrics.md)
    synack_orig_retransmissions + synack_resp_retransmissions AS rtx,
    synack_orig_out_of_order + synack_resp_out_of_order AS ooo,
    synack_orig_spurious_retransmissions + synack_resp_spurious_retransmissions AS spurious,
    synack_orig_network_duplicates + synack_resp_network_duplicates AS net_dups,
    synack_orig_lost_before_capture + synack_resp_lost_before_capture AS lost_before,
    synack_orig_lost_after_capture + synack_resp_lost_after_capture AS lost_after,
    synack_orig_tshark_retransmissions + synack_resp_tshark_retransmissions AS tshark_rtx,
    synack_orig_tshark_out_of_order + synack_resp_tshark_out_of_order AS tshark_ooo,
    synack_app AS app,
    synack_rtt * 1000 AS rtt_ms,
    synack_connect * 1000 AS connect_ms,
    synack_syn_to_synack * 1000 AS syn_to_synack_ms,
    synack_synack_to_ack * 1000 AS synack_to_ack_ms,
    -- issue 20's path RTT: each connection's median on the client's and the server's
    -- side of the capture point
    (CASE WHEN synack_orig_is_client THEN synack_rtt_orig_side_median
          ELSE synack_rtt_resp_side_median END) * 1000 AS rtt_client_side_ms,
    (CASE WHEN synack_orig_is_client THEN synack_rtt_resp_side_median
          ELSE synack_rtt_orig_side_median END) * 1000 AS rtt_server_side_ms
  FROM records
),
counts AS (
  SELECT
    grp,
    count(*) AS connections,
    sum(attempted) AS handshakes_attempted,
    sum(completed) AS handshakes_completed,
    sum(syn_retransmits) AS syn_retransmits,
    sum(synack_retransmits) AS synack_retransmits,
    sum(CASE WHEN close = 'fin' THEN 1 ELSE 0 END) AS closes_fin,
    sum(CASE WHEN close = 'reset' THEN 1 ELSE 0 END) AS closes_reset,
    sum(CASE WHEN close = 'refused' THEN 1 ELSE 0 END) AS closes_refused,
    sum(CASE WHEN close = 'unanswered' THEN 1 ELSE 0 END) AS closes_unanswered,
    sum(CASE WHEN close = 'handshake_incomplete' THEN 1 ELSE 0 END) AS closes_handshake_incomplete,
    sum(CASE WHEN close = 'half_closed' THEN 1 ELSE 0 END) AS closes_half_closed,
    sum(CASE WHEN close = 'open' THEN 1 ELSE 0 END) AS closes_open,
    sum(midstream) AS closes_midstream,
    sum(abnormal) AS closes_abnormal,
    sum(rst) AS rst_packets,
    sum(rst_client) AS rst_from_client,
    sum(rst_server) AS rst_from_server,
    sum(rst_answering_syn) AS rst_answering_syn,
    sum(fin) AS fin_packets,
    sum(tw_client) AS time_wait_client,
    sum(tw_server) AS time_wait_server,
    sum(simultaneous) AS time_wait_simultaneous,
    sum(tw_reused) AS time_wait_reused,
    sum(ka_probes) AS keepalive_probes,
    sum(ka_acks) AS keepalive_acks,
    sum(ka_unanswered) AS keepalive_unanswered,
    sum(CASE WHEN ka_probes > 0 THEN 1 ELSE 0 END) AS keepalive_connections,
    sum(zwp) AS zero_window_probes,
    sum(rtx) AS retransmissions,
    sum(ooo) AS out_of_order,
    sum(spurious) AS spurious_retransmissions,
    sum(net_dups) AS network_duplicates,
    sum(lost_before) AS lost_before_capture,
    sum(lost_after) AS lost_after_capture,
    sum(tshark_rtx) AS tshark_retransmissions,
    sum(tshark_ooo) AS tshark_out_of_order,
    sum(CASE WHEN app = 'none' THEN 1 ELSE 0 END) AS apps_none,
    sum(CASE WHEN app = 'unknown' THEN 1 ELSE 0 END) AS apps_unknown,
    sum(CASE WHEN app = 'http' THEN 1 ELSE 0 END) AS apps_http,
    sum(CASE WHEN app = 'websocket' THEN 1 ELSE 0 END) AS apps_websocket,
    sum(CASE WHEN app = 'tls' THEN 1 ELSE 0 END) AS apps_tls,
    sum(CASE WHEN app = 'ssh' THEN 1 ELSE 0 END) AS apps_ssh
  FROM r
  GROUP BY grp
),
latency AS (
  SELECT grp, 'handshake_rtt_ms' AS figure, rtt_ms AS ms FROM r WHERE rtt_ms IS NOT NULL
  UNION ALL
  SELECT grp, 'connect_ms', connect_ms FROM r WHERE connect_ms IS NOT NULL
  UNION ALL
  SELECT grp, 'syn_to_synack_ms', syn_to_synack_ms FROM r WHERE syn_to_synack_ms IS NOT NULL
  UNION ALL
  SELECT grp, 'synack_to_ack_ms', synack_to_ack_ms FROM r WHERE synack_to_ack_ms IS NOT NULL
  UNION ALL
  SELECT grp, 'rtt_client_side_ms', rtt_client_side_ms FROM r WHERE rtt_client_side_ms IS NOT NULL
  UNION ALL
  SELECT grp, 'rtt_server_side_ms', rtt_server_side_ms FROM r WHERE rtt_server_side_ms IS NOT NULL
),
ranked AS (
  SELECT grp, figure, ms,
    row_number() OVER (PARTITION BY grp, figure ORDER BY ms) AS rank,
    count(*) OVER (PARTITION BY grp, figure) AS n
  FROM latency
),
percentiles AS (
  SELECT grp, figure,
    max(n) AS count,
    min(ms) AS min,
    min(CASE WHEN rank >= greatest(ceil(50 * n / 100.0), 1) THEN ms END) AS p50,
    min(CASE WHEN rank >= greatest(ceil(90 * n / 100.0), 1) THEN ms END) AS p90,
    min(CASE WHEN rank >= greatest(ceil(99 * n / 100.0), 1) THEN ms END) AS p99,
    max(ms) AS max
  FROM ranked
  GROUP BY grp, figure
)
SELECT c.*, p.figure, p.count, p.min, p.p50, p.p90, p.p99, p.max
FROM counts c LEFT JOIN percentiles p ON c.grp = p.grp
ORDER BY c.grp, p.figure
