//! Following a table's changes as snapshots are committed, optionally with a consumer.
//!
//! A follower starts somewhere ([`StartMode`], Paimon's `scan.mode`), then hands out one
//! snapshot's changes at a time in id order, skipping snapshots without changes. Its
//! position is the id of the next snapshot to read (`nextSnapshot`); with a consumer id it
//! is stored in `consumer/consumer-<id>` by [`ChangeFollower::checkpoint`], which the
//! caller calls once everything handed out so far has been processed. A follower created
//! again with the same consumer id resumes at that snapshot, so it sees every change once
//! as long as it checkpoints exactly after processing (and expiry keeps what a consumer
//! still needs).

use futures::stream::BoxStream;

use super::{ChangeBatch, ChangeReader};
use crate::error::{Error, Result};
use crate::maintenance::ConsumerManager;
use crate::options::CoreOptions;

/// Where a follower starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// The rows of the latest snapshot as `+I`, then the changes after it (`latest-full`,
    /// Paimon's default). On a table without snapshots, the first snapshot is read so.
    LatestFull,
    /// Only the changes of snapshots committed after the start (`latest`); on a table
    /// without snapshots, from the first one.
    Latest,
    /// The rows of the earliest retained snapshot as `+I`, then every change after it; on
    /// a table without snapshots, every change from the first one.
    EarliestFull,
    /// The changes of snapshot N and later (`from-snapshot`); N below the earliest retained
    /// snapshot starts at the earliest, as in Paimon.
    FromSnapshot(i64),
    /// The rows of snapshot N as `+I`, then the changes after it (`from-snapshot-full`).
    FromSnapshotFull(i64),
    /// The changes of snapshots committed at or after this time, epoch millis
    /// (`from-timestamp`).
    FromTimestamp(i64),
}

impl StartMode {
    /// From `scan.mode` with `scan.snapshot-id` / `scan.timestamp-millis`.
    pub fn from_options(options: &CoreOptions) -> Result<Self> {
        let mode = options.scan_mode().trim().to_ascii_lowercase();
        let need = |what: &str, v: Option<i64>| {
            v.ok_or_else(|| {
                Error::data_invalid(format!("scan.mode '{mode}' needs the option '{what}'"))
            })
        };
        match mode.as_str() {
            "default" => Ok(
                match (options.scan_snapshot_id(), options.scan_timestamp_millis()) {
                    (Some(id), _) => StartMode::FromSnapshot(id),
                    (None, Some(ms)) => StartMode::FromTimestamp(ms),
                    (None, None) => StartMode::LatestFull,
                },
            ),
            "latest-full" | "full" => Ok(StartMode::LatestFull),
            "latest" => Ok(StartMode::Latest),
            "from-snapshot" => Ok(StartMode::FromSnapshot(need(
                "scan.snapshot-id",
                options.scan_snapshot_id(),
            )?)),
            "from-snapshot-full" => Ok(StartMode::FromSnapshotFull(need(
                "scan.snapshot-id",
                options.scan_snapshot_id(),
            )?)),
            "from-timestamp" => Ok(StartMode::FromTimestamp(need(
                "scan.timestamp-millis",
                options.scan_timestamp_millis(),
            )?)),
            other => Err(Error::unsupported(format!(
                "scan.mode '{other}' is not supported for reading changes; use latest-full, \
                 latest, from-snapshot, from-snapshot-full or from-timestamp"
            ))),
        }
    }
}

/// One snapshot's worth of rows handed out by a follower.
pub struct SnapshotChanges {
    pub snapshot_id: i64,
    /// The rows of a starting snapshot as `+I` (a full phase), not its changes.
    pub full: bool,
    pub batches: BoxStream<'static, Result<ChangeBatch>>,
}

/// Follows a table's changes; see the module docs.
pub struct ChangeFollower {
    reader: ChangeReader,
    /// Until the first call resolves it.
    start: Option<StartMode>,
    /// The next snapshot whose changes are handed out.
    next: Option<i64>,
    /// Resumed from a consumer: the position must still be readable.
    resumed: bool,
    /// Last snapshot to read (inclusive).
    end: Option<i64>,
    consumer: Option<String>,
}

impl ChangeFollower {
    pub fn new(reader: ChangeReader, start: StartMode) -> Self {
        ChangeFollower {
            reader,
            start: Some(start),
            next: None,
            resumed: false,
            end: None,
            consumer: None,
        }
    }

    /// A follower configured by options (`scan.mode`, `scan.snapshot-id`,
    /// `scan.timestamp-millis`, `consumer-id`, `consumer.ignore-progress`), such as the
    /// table's own merged with per-read ones.
    pub async fn from_options(reader: ChangeReader, options: &CoreOptions) -> Result<Self> {
        let follower = ChangeFollower::new(reader, StartMode::from_options(options)?);
        match options.consumer_id() {
            Some(id) => {
                follower
                    .with_consumer(id, options.consumer_ignore_progress())
                    .await
            }
            None => Ok(follower),
        }
    }

    /// Stops after snapshot `end` (inclusive): [`ChangeFollower::is_done`] then.
    pub fn with_end(mut self, end: Option<i64>) -> Self {
        self.end = end;
        self
    }

    /// Keeps the position in `consumer/consumer-<id>`. If that consumer exists (and
    /// `ignore_progress` is false), the follower resumes at its `nextSnapshot` instead of
    /// the start mode, and fails if that snapshot's changes are no longer retained.
    pub async fn with_consumer(mut self, id: &str, ignore_progress: bool) -> Result<Self> {
        let manager = ConsumerManager::new(self.reader.table().clone());
        if !ignore_progress {
            if let Some(c) = manager.get(id).await? {
                self.start = None;
                self.next = Some(c.next_snapshot);
                self.resumed = true;
            }
        }
        self.consumer = Some(id.to_string());
        Ok(self)
    }

    /// The next snapshot whose changes will be handed out, once the start is resolved.
    pub fn next_snapshot_id(&self) -> Option<i64> {
        self.next
    }

    /// Whether the follower passed its end snapshot.
    pub fn is_done(&self) -> bool {
        matches!((self.end, self.next), (Some(end), Some(next)) if next > end)
    }

    /// The next snapshot with rows to hand out, if one is committed already; `None` when
    /// there is nothing new yet (poll again later) or the follower [is done].
    ///
    /// [is done]: ChangeFollower::is_done
    pub async fn next(&mut self) -> Result<Option<SnapshotChanges>> {
        if let Some(start) = self.start {
            match self.resolve(start).await? {
                Resolved::Pending => return Ok(None),
                Resolved::Full(id) => {
                    self.start = None;
                    self.next = Some(id + 1);
                    let batches = self.reader.full_rows(id).await?;
                    return Ok(Some(SnapshotChanges {
                        snapshot_id: id,
                        full: true,
                        batches,
                    }));
                }
                Resolved::Next(id) => {
                    self.start = None;
                    self.next = Some(id);
                }
            }
        }
        loop {
            let Some(id) = self.next else {
                return Ok(None);
            };
            if self.is_done() {
                return Ok(None);
            }
            let mut snapshot = self.reader.snapshot(id).await?;
            if snapshot.is_none() {
                let latest = self.reader.table().snapshot_manager().latest_id().await?;
                if latest.is_none_or(|l| id > l) {
                    return Ok(None);
                }
                // Snapshot `id` may have been committed between the two reads; only if it
                // is still missing now was it expired.
                snapshot = self.reader.snapshot(id).await?;
            }
            let Some(snapshot) = snapshot else {
                if self.resumed || self.reader.earliest_id().await?.is_some_and(|e| id < e) {
                    return Err(self.expired(id).await);
                }
                return Ok(None);
            };
            self.resumed = false;
            self.next = Some(id + 1);
            if self.reader.has_changes(&snapshot) {
                let batches = self.reader.snapshot_changes(&snapshot).await?;
                return Ok(Some(SnapshotChanges {
                    snapshot_id: id,
                    full: false,
                    batches,
                }));
            }
        }
    }

    /// Stores the position in the consumer file, if there is a consumer. Call it once the
    /// rows of every snapshot handed out so far are processed.
    pub async fn checkpoint(&self) -> Result<()> {
        if let (Some(id), Some(next)) = (&self.consumer, self.next) {
            ConsumerManager::new(self.reader.table().clone())
                .set(id, next)
                .await?;
        }
        Ok(())
    }

    async fn expired(&self, id: i64) -> Error {
        let earliest = self.reader.earliest_id().await.ok().flatten();
        Error::not_found(format!(
            "snapshot {id} of table '{}', whose changes {} next, has expired{}; its changes \
             are lost to this reader: start it again from a retained snapshot",
            self.reader.table().identifier(),
            match &self.consumer {
                Some(c) => format!("consumer '{c}' reads"),
                None => "this reader needs".to_string(),
            },
            earliest.map_or(String::new(), |e| format!(
                " (the earliest retained is {e})"
            ))
        ))
    }

    async fn resolve(&self, start: StartMode) -> Result<Resolved> {
        let sm = self.reader.table().snapshot_manager();
        let latest = sm.latest_id().await?;
        let earliest = self.reader.earliest_id().await?;
        Ok(match start {
            StartMode::LatestFull => match latest {
                Some(id) => Resolved::Full(id),
                None => Resolved::Pending,
            },
            // An empty table is its own earliest state: its changes start at snapshot 1.
            StartMode::EarliestFull => match sm.earliest_id().await? {
                Some(id) => Resolved::Full(id),
                None => Resolved::Next(1),
            },
            StartMode::Latest => Resolved::Next(latest.map_or(1, |l| l + 1)),
            StartMode::FromSnapshot(n) => match earliest {
                Some(e) => Resolved::Next(n.max(e)),
                None => Resolved::Pending,
            },
            StartMode::FromSnapshotFull(n) => {
                if latest.is_none_or(|l| n > l) {
                    Resolved::Pending
                } else if sm.snapshot_exists(n).await? {
                    Resolved::Full(n)
                } else {
                    return Err(Error::not_found(format!(
                        "snapshot {n} of table '{}' does not exist (expired?); a full read \
                         needs the snapshot itself",
                        self.reader.table().identifier()
                    )));
                }
            }
            StartMode::FromTimestamp(millis) => match (earliest, latest) {
                (Some(e), Some(l)) => {
                    // The first snapshot committed at or after `millis`.
                    let mut start = l + 1;
                    for id in (e..=l).rev() {
                        match self.reader.snapshot(id).await? {
                            Some(s) if s.time_millis >= millis => start = id,
                            Some(_) => break,
                            None => {}
                        }
                    }
                    Resolved::Next(start)
                }
                _ => Resolved::Pending,
            },
        })
    }
}

enum Resolved {
    /// No snapshot to start from yet.
    Pending,
    /// A full phase of this snapshot first.
    Full(i64),
    /// Changes from this snapshot on.
    Next(i64),
}
