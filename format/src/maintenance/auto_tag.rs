//! Automatic tags (`tag.automatic-creation`): one tag per period (`tag.creation-period`:
//! daily, hourly, two-hours), named after the period (`2024-01-31`, `2024-01-31 10`, per
//! `tag.period-formatter`), on the first snapshot committed after the period ended plus
//! `tag.creation-delay`. The time of a snapshot is its commit time in the local time zone
//! (`process-time`) or its watermark in UTC (`watermark`); snapshots without a watermark
//! are skipped in watermark mode. As in Paimon, progress is restored from the newest
//! automatic tag, so every run continues where the last one stopped; the first tag of a
//! table names the period before its first snapshot's. `tag.num-retained-max` then deletes
//! the oldest automatic tags (manual tags are never counted), and every automatic tag gets
//! `tag.default-time-retained`.

use chrono::{NaiveDate, NaiveDateTime};

use super::tag::{local_time, TagDeletion, TagManager};
use crate::error::{ErrorKind, Result};
use crate::options::{TagCreationMode, TagCreationPeriod, TagPeriodFormatter};
use crate::snapshot::Snapshot;
use crate::table::Table;

/// Names and periods of automatic tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagPeriod {
    pub period: TagCreationPeriod,
    pub formatter: TagPeriodFormatter,
}

impl TagPeriod {
    pub fn length(&self) -> chrono::Duration {
        match self.period {
            TagCreationPeriod::Daily => chrono::Duration::days(1),
            TagCreationPeriod::Hourly => chrono::Duration::hours(1),
            TagCreationPeriod::TwoHours => chrono::Duration::hours(2),
        }
    }

    fn pattern(&self) -> &'static str {
        use TagPeriodFormatter::*;
        match (self.period, self.formatter) {
            (TagCreationPeriod::Daily, WithDashes) => "%Y-%m-%d",
            (TagCreationPeriod::Daily, _) => "%Y%m%d",
            (TagCreationPeriod::Hourly, WithDashes) | (TagCreationPeriod::TwoHours, _) => {
                "%Y-%m-%d %H"
            }
            (TagCreationPeriod::Hourly, WithoutDashes) => "%Y%m%d %H",
            (TagCreationPeriod::Hourly, WithoutDashesAndSpaces) => "%Y%m%d%H",
        }
    }

    /// The tag name of the period starting at `start`.
    pub fn name(&self, start: NaiveDateTime) -> String {
        start.format(self.pattern()).to_string()
    }

    /// The period start a tag name denotes, if it is an automatic tag's name (the name
    /// must spell the time exactly as `name` would).
    pub fn parse(&self, name: &str) -> Option<NaiveDateTime> {
        let time = if self.period == TagCreationPeriod::Daily {
            NaiveDate::parse_from_str(name, self.pattern())
                .ok()?
                .and_hms_opt(0, 0, 0)?
        } else {
            // chrono needs minutes to build a time; the name has none.
            NaiveDateTime::parse_from_str(&format!("{name}:00"), &format!("{}:%M", self.pattern()))
                .ok()?
        };
        (self.name(time) == name).then_some(time)
    }

    /// The period before the one holding `time` (Paimon's `normalizeToPreviousTag`:
    /// periods are aligned to the epoch on the local clock).
    pub fn previous_period(&self, time: NaiveDateTime) -> NaiveDateTime {
        let len = self.length().num_milliseconds();
        let millis = time.and_utc().timestamp_millis();
        let start = millis.div_euclid(len) * len - len;
        chrono::DateTime::from_timestamp_millis(start)
            .map(|t| t.naive_utc())
            .unwrap_or(time)
    }
}

/// What one run of automatic tagging did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoTagReport {
    /// `(name, snapshot id)` of the tags created.
    pub created: Vec<(String, i64)>,
    /// Automatic tags deleted by `tag.num-retained-max`.
    pub deleted: Vec<TagDeletion>,
}

/// The time automatic tagging sees in a snapshot, or `None` to skip it.
fn snapshot_time(mode: TagCreationMode, snapshot: &Snapshot) -> Option<NaiveDateTime> {
    match mode {
        TagCreationMode::ProcessTime => Some(local_time(snapshot.time_millis)),
        TagCreationMode::Watermark => snapshot
            .watermark
            .filter(|w| *w != i64::MIN)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.naive_utc()),
        TagCreationMode::None | TagCreationMode::Batch => None,
    }
}

/// Creates the automatic tags due for the snapshots committed since the last automatic
/// tag; `now_millis` stamps their retention.
pub async fn create_auto_tags(table: &Table, now_millis: i64) -> Result<AutoTagReport> {
    let options = table.options();
    let mode = options.tag_automatic_creation();
    let mut report = AutoTagReport::default();
    if matches!(mode, TagCreationMode::None | TagCreationMode::Batch) {
        return Ok(report);
    }
    let period = TagPeriod {
        period: options.tag_creation_period(),
        formatter: options.tag_period_formatter(),
    };
    let delay = chrono::Duration::from_std(options.tag_creation_delay()).unwrap_or_default();
    let tags = TagManager::new(table.clone());
    let sm = table.snapshot_manager();
    let Some(latest) = sm.latest_id().await? else {
        return Ok(report);
    };

    let newest_auto = tags
        .names()
        .await?
        .into_iter()
        .filter_map(|n| period.parse(&n).map(|t| (t, n)))
        .max();
    let (mut next_snapshot, mut next_tag) = match newest_auto {
        Some((time, name)) => match tags.get(&name).await? {
            Some(tag) => (tag.snapshot.id + 1, Some(time + period.length())),
            None => (1, None),
        },
        None => (sm.earliest_id().await?.unwrap_or(1), None),
    };
    while next_snapshot <= latest {
        let snapshot = match sm.snapshot(next_snapshot).await {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Expired meanwhile: continue from the earliest retained snapshot.
                match sm.earliest_id().await? {
                    Some(e) if e > next_snapshot => {
                        next_snapshot = e;
                        continue;
                    }
                    _ => break,
                }
            }
            Err(e) => return Err(e),
        };
        next_snapshot += 1;
        let Some(time) = snapshot_time(mode, &snapshot) else {
            continue;
        };
        let due = next_tag.is_none_or(|next| time - delay >= next + period.length());
        if !due {
            continue;
        }
        let this_tag = period.previous_period(time);
        let name = period.name(this_tag);
        match tags
            .create(
                &name,
                Some(snapshot.id),
                options.tag_default_time_retained(),
                now_millis,
            )
            .await
        {
            Ok(_) => report.created.push((name, snapshot.id)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        next_tag = Some(this_tag + period.length());
        if let Some(max) = options.tag_num_retained_max() {
            report
                .deleted
                .extend(retain_auto_tags(&tags, period, max).await?);
        }
    }
    Ok(report)
}

/// Deletes the oldest automatic tags beyond `max`.
async fn retain_auto_tags(
    tags: &TagManager,
    period: TagPeriod,
    max: i32,
) -> Result<Vec<TagDeletion>> {
    let auto: Vec<_> = tags
        .list()
        .await?
        .into_iter()
        .filter(|t| period.parse(&t.name).is_some())
        .collect();
    let excess = auto
        .len()
        .saturating_sub(usize::try_from(max.max(0)).unwrap_or(0));
    let mut deleted = Vec::new();
    for tag in auto.into_iter().take(excess) {
        deleted.push(tags.delete(&tag.name).await?);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn names_and_periods_like_paimon() {
        let daily = TagPeriod {
            period: TagCreationPeriod::Daily,
            formatter: TagPeriodFormatter::WithDashes,
        };
        assert_eq!(daily.name(t("2024-03-09 00:00:00")), "2024-03-09");
        assert_eq!(daily.parse("2024-03-09"), Some(t("2024-03-09 00:00:00")));
        assert_eq!(daily.parse("2024-3-9"), None);
        assert_eq!(daily.parse("release-1"), None);
        assert_eq!(
            daily.previous_period(t("2024-03-10 00:05:00")),
            t("2024-03-09 00:00:00")
        );
        let compact = TagPeriod {
            period: TagCreationPeriod::Daily,
            formatter: TagPeriodFormatter::WithoutDashes,
        };
        assert_eq!(compact.name(t("2024-03-09 00:00:00")), "20240309");
        let hourly = TagPeriod {
            period: TagCreationPeriod::Hourly,
            formatter: TagPeriodFormatter::WithDashes,
        };
        assert_eq!(hourly.name(t("2024-03-09 07:00:00")), "2024-03-09 07");
        assert_eq!(
            hourly.parse("2024-03-09 07"),
            Some(t("2024-03-09 07:00:00"))
        );
        let two = TagPeriod {
            period: TagCreationPeriod::TwoHours,
            formatter: TagPeriodFormatter::WithoutDashes,
        };
        assert_eq!(
            two.previous_period(t("2024-03-09 07:30:00")),
            t("2024-03-09 04:00:00")
        );
    }
}
