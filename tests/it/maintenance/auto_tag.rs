//! Automatic daily tags (`tag.automatic-creation` = process-time, `tag.creation-period` =
//! daily): commits every eight hours over several days; each day gets one tag, on the
//! first snapshot committed after the day ended, whether tagging runs after every commit
//! or only now and then. `tag.num-retained-max` keeps the newest automatic tags (a manual
//! tag is never counted), tags keep their snapshots readable after expiry, and
//! `tag.default-time-retained` expires them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;

use strata_format::commit::Clock;
use strata_format::maintenance::tag::local_time;
use strata_format::maintenance::{ExpireConfig, Maintenance, TagManager};
use strata_writer::TableWriter;

use super::{batch, fixture, model_rows, read_tag, Rows, TestClock};

#[tokio::test]
async fn daily_tags_are_created_retained_and_expired() {
    let fx = fixture(&[
        ("bucket", "1"),
        ("tag.automatic-creation", "process-time"),
        ("tag.creation-period", "daily"),
        ("tag.num-retained-max", "3"),
        ("tag.default-time-retained", "2 d"),
    ])
    .await;
    let table = fx.table.clone();
    let clock = TestClock::now();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let m = Maintenance::new(table.clone()).with_clock(dyn_clock.clone());
    let mut writer = TableWriter::builder(table.clone())
        .clock(dyn_clock.clone())
        .build()
        .unwrap();
    let mut model = BTreeMap::new();
    let mut rows_of: BTreeMap<i64, Rows> = BTreeMap::new();
    // (snapshot id, local date of its commit)
    let mut commits = Vec::new();
    for n in 1..=16i64 {
        clock.advance(8 * 3600 * 1000);
        let ops = vec![(0i8, "a".to_string(), n as i32, format!("v{n}"))];
        let (b, kinds) = batch(&ops);
        writer.write_with_kinds(&b, &kinds).await.unwrap();
        model.insert(("a".to_string(), n as i32), format!("v{n}"));
        let id = writer.commit(n).await.unwrap().snapshot_ids[0];
        rows_of.insert(id, model_rows(&model));
        let snapshot = table.snapshot_manager().snapshot(id).await.unwrap();
        commits.push((id, local_time(snapshot.time_millis).date()));
        // Tagging runs after each of the first eight commits, then once at the end.
        if n <= 8 {
            m.create_auto_tags().await.unwrap();
        }
        if n == 2 {
            m.create_tag("manual", Some(id), None).await.unwrap();
        }
    }
    m.create_auto_tags().await.unwrap();

    // Paimon's rule: the first snapshot tags the day before it; later, the first snapshot
    // of a day at least two days after the last tag's day tags the day before it.
    let mut want: Vec<(String, i64)> = Vec::new();
    let mut last: Option<NaiveDate> = None;
    for (id, date) in &commits {
        if last.is_none_or(|l| (*date - l).num_days() >= 2) {
            let tag = date.pred_opt().unwrap();
            want.push((tag.format("%Y-%m-%d").to_string(), *id));
            last = Some(tag);
        }
    }
    eprintln!("automatic tags: {want:?}");
    assert!(want.len() >= 5, "{want:?}");
    let kept: Vec<(String, i64)> = want[want.len() - 3..].to_vec();
    let tags = TagManager::new(table.clone()).list().await.unwrap();
    let mut got: Vec<(String, i64)> = tags
        .iter()
        .filter(|t| t.name != "manual")
        .map(|t| (t.name.clone(), t.snapshot.id))
        .collect();
    got.sort();
    assert_eq!(got, kept, "all automatic tags would be {want:?}");
    assert!(tags
        .iter()
        .all(|t| t.name == "manual" || t.time_retained == Some(Duration::from_secs(2 * 86_400))));

    // Expire every snapshot but the latest: the tags still read their snapshots.
    let config = ExpireConfig {
        retain_min: 1,
        retain_max: 1,
        time_retained: Duration::ZERO,
        max_deletes: i32::MAX,
        ..m.expire_config()
    };
    m.expire_snapshots(config).await.unwrap();
    for (name, id) in kept
        .iter()
        .chain(std::iter::once(&("manual".to_string(), commits[1].0)))
    {
        assert_eq!(
            read_tag(&table, name).await.unwrap(),
            rows_of[id],
            "tag {name}"
        );
    }

    // Three days later the automatic tags' retention has passed; the manual tag stays.
    clock.advance(3 * 86_400 * 1000);
    let report = m.run_scheduled().await.unwrap();
    let mut expired: Vec<String> = report
        .expired_tags
        .iter()
        .map(|d| d.tag.name.clone())
        .collect();
    expired.sort();
    assert_eq!(
        expired,
        kept.iter().map(|k| k.0.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        TagManager::new(table.clone()).names().await.unwrap(),
        vec!["manual".to_string()]
    );
    assert_eq!(
        read_tag(&table, "manual").await.unwrap(),
        rows_of[&commits[1].0]
    );
}
