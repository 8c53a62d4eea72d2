//! `ttl`: ClickHouse 18.16 has no `TTL` clause, so the exporter drops
//! expired data itself. Tables are partitioned by UTC day
//! (`toDate(Timestamp, 'UTC')`, partition ids `YYYYMMDD`); a partition is
//! dropped once its whole day is older than `ttl` — the granularity of the
//! Collector's `ttl_only_drop_parts = 1`. Partitions whose id is not a date
//! (a table made by someone else) are never touched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::client::{Client, SendError};
use super::schema::Table;

/// How often expired partitions are looked for.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Drops the partitions of every table whose day ended more than `ttl`
/// before `now`; returns how many were dropped.
pub async fn drop_expired(
    client: &Client,
    database: &str,
    ttl: Duration,
    now: SystemTime,
) -> Result<usize, SendError> {
    let cutoff = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(ttl)
        .as_secs();
    let mut dropped = 0;
    for table in Table::ALL {
        let sql = format!(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = '{database}' \
             AND table = '{}' AND active FORMAT TabSeparated",
            table.name()
        );
        let answer = client.execute(&sql).await?;
        for id in String::from_utf8_lossy(&answer).lines() {
            if !expired(id, cutoff) {
                continue;
            }
            let sql = format!(
                "ALTER TABLE {database}.{} DROP PARTITION ID '{id}'",
                table.name()
            );
            client.execute(&sql).await?;
            tracing::info!(
                table = table.name(),
                partition = id,
                "clickhouse: dropped a partition older than ttl"
            );
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Whether partition `id` (`YYYYMMDD`) holds only times before `cutoff` (unix seconds).
pub fn expired(id: &str, cutoff: u64) -> bool {
    match day_of(id) {
        Some(days) => (days + 1) * 86_400 <= cutoff as i64,
        None => false,
    }
}

/// Days since 1970-01-01 of a `YYYYMMDD` partition id.
fn day_of(id: &str) -> Option<i64> {
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = id[..4].parse().ok()?;
    let m: i64 = id[4..6].parse().ok()?;
    let d: i64 = id[6..].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_days() {
        assert_eq!(day_of("19700101"), Some(0));
        assert_eq!(day_of("20231114"), Some(19_675));
        assert_eq!(day_of("20000301"), Some(11_017));
        for bad in [
            "",
            "2023111",
            "202311140",
            "2023-11-1",
            "20231301",
            "20231100",
            "tuple()",
        ] {
            assert_eq!(day_of(bad), None, "{bad}");
        }
        // 2023-11-14 ends at 1700006400.
        assert!(!expired("20231114", 1_700_006_399));
        assert!(expired("20231114", 1_700_006_400));
        assert!(!expired("all", u64::MAX / 2));
    }
}
