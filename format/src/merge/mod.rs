//! Merge engines: how the versions of one key combine into the row a reader sees.
//!
//! Contract (shared by the write buffer, the reader and the compactor):
//! - The caller hands over *all* versions of one key that it has, in any order, each with
//!   its `_SEQUENCE_NUMBER`, its user sequence (the `sequence.field` columns encoded in
//!   Arrow's row format, so bytes compare in the configured order) and its row kind.
//! - Versions are ordered by `(user sequence, _SEQUENCE_NUMBER)`; the sequence number
//!   breaks ties, so the order is total for rows of one bucket.
//! - `deduplicate`: the greatest version wins; if it is a retraction (`-U`/`-D`) the key
//!   disappears. `ignore-delete` drops retractions before merging.
//! - `first-row`: the smallest non-retraction version wins; retractions are rejected at
//!   write time unless `ignore-delete`, and skipped here.
//! - A merge that may not see every version of the key (the write buffer, a compaction that
//!   does not include the oldest files) keeps a winning retraction instead of dropping it
//!   ([`MergeFunction::pick_keeping_retractions`]): it must still delete older versions.
//!
//! Partial-update and aggregation arrive with their own field-wise combination rules.

use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::options::MergeEngine;
use crate::table::Table;
use crate::types::DataField;

/// Paimon's row kinds, as stored in `_VALUE_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    Insert,
    UpdateBefore,
    UpdateAfter,
    Delete,
}

impl RowKind {
    pub fn from_byte(b: i8) -> Option<RowKind> {
        match b {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }

    pub fn as_byte(self) -> i8 {
        match self {
            RowKind::Insert => 0,
            RowKind::UpdateBefore => 1,
            RowKind::UpdateAfter => 2,
            RowKind::Delete => 3,
        }
    }

    /// `+I`, `-U`, `+U`, `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    pub fn parse_short(s: &str) -> Option<RowKind> {
        match s {
            "+I" => Some(RowKind::Insert),
            "-U" => Some(RowKind::UpdateBefore),
            "+U" => Some(RowKind::UpdateAfter),
            "-D" => Some(RowKind::Delete),
            _ => None,
        }
    }

    /// `+I` and `+U` add a row; `-U` and `-D` retract one.
    pub fn is_add(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// One version of a key as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub sequence: i64,
    /// The user sequence fields in Arrow row format; `None` without `sequence.field`.
    pub user_sequence: Option<Vec<u8>>,
    pub kind: RowKind,
}

impl KeyVersion {
    fn order_key(&self) -> (Option<&[u8]>, i64) {
        (self.user_sequence.as_deref(), self.sequence)
    }
}

/// A table's merge engine with its options resolved.
#[derive(Debug, Clone)]
pub struct MergeFunction {
    engine: MergeEngine,
    ignore_delete: bool,
    sequence_fields: Vec<DataField>,
    sequence_descending: bool,
}

impl MergeFunction {
    pub fn from_table(table: &Table) -> Result<Self> {
        let options = table.options();
        let schema = table.schema();
        let engine = options.merge_engine();
        if !matches!(engine, MergeEngine::Deduplicate | MergeEngine::FirstRow) {
            return Err(Error::unsupported(format!(
                "merge engine '{}' of table '{}' is not supported yet",
                engine.as_str(),
                table.identifier()
            )));
        }
        let mut sequence_fields = Vec::new();
        for name in options.sequence_fields() {
            let field = schema.field(name).ok_or_else(|| {
                Error::data_invalid(format!(
                    "sequence.field '{name}' is not a column of table '{}'",
                    table.identifier()
                ))
            })?;
            sequence_fields.push(field.clone());
        }
        Ok(MergeFunction {
            engine,
            ignore_delete: options.ignore_delete(),
            sequence_fields,
            sequence_descending: options.sequence_field_descending(),
        })
    }

    pub fn engine(&self) -> MergeEngine {
        self.engine
    }

    pub fn sequence_fields(&self) -> &[DataField] {
        &self.sequence_fields
    }

    pub fn sequence_descending(&self) -> bool {
        self.sequence_descending
    }

    /// Files a batch read must consider (all of them for the engines so far).
    pub fn filter_files(&self, files: Vec<DataFileMeta>) -> Vec<DataFileMeta> {
        files
    }

    /// Index of the version that survives, or `None` when the key disappears.
    pub fn pick(&self, versions: &[KeyVersion]) -> Option<usize> {
        self.pick_keeping_retractions(versions)
            .filter(|&i| versions.get(i).is_some_and(|v| v.kind.is_add()))
    }

    /// The version a write buffer (or any merge that does not see every file of the key)
    /// keeps: what [`MergeFunction::pick`] returns, except that a winning retraction is kept
    /// rather than dropped, because it must still delete older versions in other files.
    pub fn pick_keeping_retractions(&self, versions: &[KeyVersion]) -> Option<usize> {
        let candidates = versions
            .iter()
            .enumerate()
            .filter(|(_, v)| !self.ignore_delete || v.kind.is_add());
        match self.engine {
            MergeEngine::FirstRow => candidates
                .filter(|(_, v)| v.kind.is_add())
                .min_by(|a, b| a.1.order_key().cmp(&b.1.order_key()))
                .map(|(i, _)| i),
            _ => candidates
                .max_by(|a, b| a.1.order_key().cmp(&b.1.order_key()))
                .map(|(i, _)| i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(sequence: i64, kind: RowKind) -> KeyVersion {
        KeyVersion {
            sequence,
            user_sequence: None,
            kind,
        }
    }

    fn engine(engine: MergeEngine, ignore_delete: bool) -> MergeFunction {
        MergeFunction {
            engine,
            ignore_delete,
            sequence_fields: vec![],
            sequence_descending: false,
        }
    }

    #[test]
    fn deduplicate_latest_wins_and_delete_removes() {
        let d = engine(MergeEngine::Deduplicate, false);
        assert_eq!(
            d.pick(&[v(3, RowKind::Insert), v(7, RowKind::UpdateAfter)]),
            Some(1)
        );
        assert_eq!(
            d.pick(&[v(9, RowKind::Delete), v(7, RowKind::Insert)]),
            None
        );
        let ignoring = engine(MergeEngine::Deduplicate, true);
        assert_eq!(
            ignoring.pick(&[v(9, RowKind::Delete), v(7, RowKind::Insert)]),
            Some(1)
        );
    }

    #[test]
    fn user_sequence_beats_sequence_number() {
        let d = engine(MergeEngine::Deduplicate, false);
        let mut a = v(10, RowKind::Insert);
        a.user_sequence = Some(vec![1]);
        let mut b = v(2, RowKind::Insert);
        b.user_sequence = Some(vec![5]);
        assert_eq!(d.pick(&[a, b]), Some(1));
    }

    #[test]
    fn buffers_keep_the_winning_retraction() {
        let d = engine(MergeEngine::Deduplicate, false);
        let versions = [v(9, RowKind::Delete), v(7, RowKind::Insert)];
        assert_eq!(d.pick(&versions), None);
        assert_eq!(d.pick_keeping_retractions(&versions), Some(0));
        let ignoring = engine(MergeEngine::Deduplicate, true);
        assert_eq!(ignoring.pick_keeping_retractions(&versions), Some(1));
        assert_eq!(
            ignoring.pick_keeping_retractions(&[v(1, RowKind::UpdateBefore)]),
            None
        );
        let first = engine(MergeEngine::FirstRow, true);
        assert_eq!(first.pick_keeping_retractions(&versions), Some(1));
    }

    #[test]
    fn first_row_keeps_the_first() {
        let f = engine(MergeEngine::FirstRow, true);
        assert_eq!(
            f.pick(&[
                v(5, RowKind::Insert),
                v(2, RowKind::Insert),
                v(1, RowKind::Delete)
            ]),
            Some(1)
        );
    }
}
