//! The `partial-update` engine (Paimon's `PartialUpdateMergeFunction`, 1.4).
//!
//! Without sequence groups, every non-null field of a later version overwrites; nulls never
//! do. A retraction is an error unless `ignore-delete` (skip it) or
//! `partial-update.remove-record-on-delete` (a `-D` replaces the row by the delete's values
//! and makes the result a `-D`; `-U` is skipped).
//!
//! `fields.<s1>,<s2>.sequence-group = <f1>,<f2>` makes `s1, s2` the ordering of the group
//! `f1, f2, s1, s2`: a version whose group sequence (compared field by field, ascending,
//! null first) is not older than the row's updates the whole group, nulls included; an
//! older one only feeds the group's aggregates (`agg_reversed`); a version whose group
//! sequence is all null leaves the group alone. Group fields may have aggregate functions;
//! other fields only `last_non_null_value`. A retraction with a newer group sequence sets
//! the group's sequence, nulls its plain fields and retracts its aggregates; with
//! `partial-update.remove-record-on-sequence-group` naming the group's sequence field, a
//! `-D` removes the whole row instead.
//!
//! Paimon quirks kept: the first retraction of a key seeds the row with its values, and the
//! result is a `-D` until an insert arrives.

use super::cell::{self, Acc};
use super::functions::{Ctx, FieldAgg};
use super::{FieldValue, MergeInput, MergeResult, RowKind};
use crate::error::{Error, Result};
use crate::invalid;
use crate::options::CoreOptions;
use crate::schema::TableSchema;

const GROUP_SUFFIX: &str = ".sequence-group";
const REMOVE_ON_GROUP: &str = "partial-update.remove-record-on-sequence-group";

/// The partial-update rules of one table.
#[derive(Debug, Clone)]
pub struct PartialUpdate {
    nullable: Vec<bool>,
    names: Vec<String>,
    /// The sequence fields of each group.
    groups: Vec<Vec<usize>>,
    /// The group of each field (its sequence fields and the fields it protects).
    group_of: Vec<Option<usize>>,
    aggs: Vec<Option<FieldAgg>>,
    remove_on_delete: bool,
    /// Sequence fields whose group's `-D` removes the row.
    remove_on_group: Vec<usize>,
}

impl PartialUpdate {
    pub(crate) fn new(schema: &TableSchema, options: &CoreOptions) -> Result<PartialUpdate> {
        let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
        let n = names.len();
        let find = |name: &str, key: &str| {
            names.iter().position(|x| x == name).ok_or_else(|| {
                invalid!("option '{key}' names '{name}', which is not a column of the table")
            })
        };
        let pk = &schema.primary_keys;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: Vec<Option<usize>> = vec![None; n];
        let mut sequence_fields = Vec::new();
        let mut protected = Vec::new();
        for (key, value) in options.raw() {
            let Some(list) = key
                .strip_prefix("fields.")
                .and_then(|k| k.strip_suffix(GROUP_SUFFIX))
            else {
                continue;
            };
            let g = groups.len();
            let mut seq = Vec::new();
            for name in list.split(',') {
                let i = find(name, key)?;
                if pk.contains(&names[i]) {
                    return Err(invalid!(
                        "option '{key}': primary key column '{name}' cannot order a sequence group"
                    ));
                }
                if group_of[i].is_some() {
                    return Err(invalid!(
                        "column '{name}' is in more than one sequence group (option '{key}')"
                    ));
                }
                seq.push(i);
            }
            for name in value.split(',') {
                let i = find(name, key)?;
                if pk.contains(&names[i]) {
                    return Err(invalid!(
                        "option '{key}': primary key column '{name}' cannot be in a sequence group"
                    ));
                }
                if group_of[i].is_some() || seq.contains(&i) {
                    return Err(invalid!(
                        "column '{name}' is in more than one sequence group (option '{key}')"
                    ));
                }
                group_of[i] = Some(g);
                protected.push(i);
            }
            for &i in &seq {
                group_of[i] = Some(g);
            }
            sequence_fields.extend(seq.iter().copied());
            groups.push(seq);
        }

        let mut aggs = Vec::with_capacity(n);
        for (i, field) in schema.fields.iter().enumerate() {
            if sequence_fields.contains(&i) {
                aggs.push(None);
                continue;
            }
            if pk.contains(&field.name) {
                aggs.push(Some(FieldAgg::primary_key(field)));
                continue;
            }
            let name = options
                .field_option(&field.name, "aggregate-function")
                .or_else(|| options.get("fields.default-aggregate-function"));
            let Some(name) = name else {
                aggs.push(None);
                continue;
            };
            if name != "last_non_null_value" && !protected.contains(&i) {
                return Err(invalid!(
                    "partial-update: column '{}' has aggregate function '{name}' but is in no \
                     sequence group; aggregate functions other than last_non_null_value need \
                     'fields.<sequence-field>.sequence-group' covering the column",
                    field.name
                ));
            }
            aggs.push(Some(FieldAgg::new(name, field, options)?));
        }

        let ignore_delete = options.ignore_delete();
        let remove_on_delete = options.partial_update_remove_record_on_delete();
        if remove_on_delete && ignore_delete {
            return Err(invalid!(
                "options 'ignore-delete' and 'partial-update.remove-record-on-delete' conflict; \
                 set only one"
            ));
        }
        if remove_on_delete && !groups.is_empty() {
            return Err(invalid!(
                "option 'partial-update.remove-record-on-delete' conflicts with sequence groups; \
                 use 'partial-update.remove-record-on-sequence-group' instead"
            ));
        }
        let mut remove_on_group = Vec::new();
        if let Some(list) = options.get(REMOVE_ON_GROUP) {
            if ignore_delete {
                return Err(invalid!(
                    "options 'ignore-delete' and '{REMOVE_ON_GROUP}' conflict; set only one"
                ));
            }
            for name in list.split(',') {
                match names.iter().position(|x| x == name) {
                    Some(i) if sequence_fields.contains(&i) => remove_on_group.push(i),
                    _ => {
                        return Err(invalid!(
                            "option '{REMOVE_ON_GROUP}' names '{name}', which is not the \
                             sequence field of a sequence group"
                        ))
                    }
                }
            }
        }
        Ok(PartialUpdate {
            nullable: schema.fields.iter().map(|f| f.data_type.nullable).collect(),
            names,
            groups,
            group_of,
            aggs,
            remove_on_delete,
            remove_on_group,
        })
    }

    /// Sequence fields the merge needs to update `wanted` (indices in schema order).
    pub(crate) fn fields_needed_for(&self, wanted: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        for &w in wanted {
            if let Some(g) = self.group_of.get(w).copied().flatten() {
                for &s in &self.groups[g] {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Whether `-U`/`-D` input can be merged (sequence groups or remove-record-on-delete).
    pub fn accepts_retractions(&self) -> bool {
        !self.groups.is_empty() || self.remove_on_delete
    }

    pub(crate) fn merge(&self, input: &MergeInput<'_>, ignore_delete: bool) -> Result<MergeResult> {
        let n = self.nullable.len();
        let mut st = State {
            row: vec![Acc::Null; n],
            seen: vec![false; n],
            delete: false,
        };
        let mut meet_insert = false;
        let mut filled = false;
        let mut latest = None;
        for v in 0..input.len() {
            st.delete = false;
            let kind = input.kind(v);
            if !kind.is_add() {
                if !filled {
                    self.init_row(input, v, &mut st.row)?;
                    filled = true;
                }
                if ignore_delete {
                    continue;
                }
                latest = Some(input.versions()[v].sequence);
                if !self.groups.is_empty() {
                    self.retract_groups(input, v, &mut st)?;
                } else if self.remove_on_delete {
                    if kind == RowKind::Delete {
                        st.delete = true;
                        self.init_row(input, v, &mut st.row)?;
                    }
                } else {
                    return Err(Error::data_invalid(
                        "merge-engine 'partial-update' cannot accept -U/-D records by default; \
                         set 'ignore-delete' to drop them, \
                         'partial-update.remove-record-on-delete' to remove the row on -D, or \
                         sequence groups to retract their columns",
                    ));
                }
                continue;
            }
            latest = Some(input.versions()[v].sequence);
            if self.groups.is_empty() {
                self.update_non_null(input, v, &mut st.row)?;
            } else {
                self.update_groups(input, v, &mut st)?;
            }
            meet_insert = true;
            filled = true;
        }
        let kind = if st.delete || !meet_insert {
            RowKind::Delete
        } else {
            RowKind::Insert
        };
        let sequence = latest
            .or_else(|| input.versions().last().map(|v| v.sequence))
            .unwrap_or_default();
        let fields: Vec<FieldValue> = st.row.into_iter().map(Acc::into_field_value).collect();
        Ok(MergeResult::Computed {
            kind,
            sequence,
            fields,
        })
    }

    fn not_null_error(&self, f: usize) -> Error {
        Error::data_invalid(format!(
            "partial-update: column '{}' is NOT NULL but a version holds null",
            self.names[f]
        ))
    }

    fn init_row(&self, input: &MergeInput<'_>, v: usize, row: &mut [Acc]) -> Result<()> {
        for (f, slot) in row.iter_mut().enumerate() {
            if !input.has_field(f) {
                continue;
            }
            *slot = Acc::of(input, f, v);
            if slot.is_null() && !self.nullable[f] {
                return Err(self.not_null_error(f));
            }
        }
        Ok(())
    }

    fn update_non_null(&self, input: &MergeInput<'_>, v: usize, row: &mut [Acc]) -> Result<()> {
        for (f, slot) in row.iter_mut().enumerate() {
            if !input.has_field(f) {
                continue;
            }
            let value = Acc::of(input, f, v);
            if !value.is_null() {
                *slot = value;
            } else if !self.nullable[f] {
                return Err(self.not_null_error(f));
            }
        }
        Ok(())
    }

    /// All sequence fields of group `g` are null in version `v`.
    fn group_is_empty(&self, input: &MergeInput<'_>, v: usize, g: usize) -> bool {
        self.groups[g].iter().all(|&s| input.cell(s, v).is_none())
    }

    /// Version `v`'s group sequence against the row's: ascending, null first.
    fn compare_group(
        &self,
        input: &MergeInput<'_>,
        v: usize,
        g: usize,
        row: &[Acc],
    ) -> Result<std::cmp::Ordering> {
        use std::cmp::Ordering::*;
        for &s in &self.groups[g] {
            let ord = match (input.cell(s, v), row[s].cell(input, s)) {
                (None, None) => Equal,
                (None, Some(_)) => Less,
                (Some(_), None) => Greater,
                (Some(a), Some(b)) => cell::compare(a, b)?,
            };
            if ord != Equal {
                return Ok(ord);
            }
        }
        Ok(Equal)
    }

    fn update_groups(&self, input: &MergeInput<'_>, v: usize, st: &mut State) -> Result<()> {
        for f in 0..self.nullable.len() {
            if !input.has_field(f) {
                continue;
            }
            let value = Acc::of(input, f, v);
            let ctx = Ctx { input, field: f };
            let Some(g) = self.group_of[f] else {
                match &self.aggs[f] {
                    Some(agg) => {
                        let acc = std::mem::replace(&mut st.row[f], Acc::Null);
                        st.row[f] = agg.agg(&ctx, acc, value, &mut st.seen[f])?;
                    }
                    None if !value.is_null() => st.row[f] = value,
                    None => {}
                }
                continue;
            };
            if self.group_is_empty(input, v, g) {
                continue;
            }
            let newer = self.compare_group(input, v, g, &st.row)?.is_ge();
            if newer && self.groups[g].contains(&f) {
                for &s in &self.groups[g] {
                    st.row[s] = Acc::of(input, s, v);
                }
                continue;
            }
            let acc = std::mem::replace(&mut st.row[f], Acc::Null);
            st.row[f] = match (&self.aggs[f], newer) {
                (None, true) => value,
                (None, false) => acc,
                (Some(agg), true) => agg.agg(&ctx, acc, value, &mut st.seen[f])?,
                (Some(agg), false) => agg.agg_reversed(&ctx, acc, value, &mut st.seen[f])?,
            };
        }
        Ok(())
    }

    fn retract_groups(&self, input: &MergeInput<'_>, v: usize, st: &mut State) -> Result<()> {
        let mut updated: Vec<usize> = Vec::new();
        for f in 0..self.nullable.len() {
            if !input.has_field(f) {
                continue;
            }
            let Some(g) = self.group_of[f] else {
                continue;
            };
            if self.group_is_empty(input, v, g) {
                continue;
            }
            let newer = self.compare_group(input, v, g, &st.row)?.is_ge();
            if newer && self.groups[g].contains(&f) {
                for &s in &self.groups[g] {
                    if updated.contains(&s) {
                        continue;
                    }
                    if input.kind(v) == RowKind::Delete && self.remove_on_group.contains(&s) {
                        st.delete = true;
                        return self.init_row(input, v, &mut st.row);
                    }
                    st.row[s] = Acc::of(input, s, v);
                    updated.push(s);
                }
                continue;
            }
            let ctx = Ctx { input, field: f };
            let value = Acc::of(input, f, v);
            let acc = std::mem::replace(&mut st.row[f], Acc::Null);
            st.row[f] = match (&self.aggs[f], newer) {
                (None, true) => Acc::Null,
                (None, false) => acc,
                (Some(agg), _) => agg.retract(&ctx, acc, value)?,
            };
        }
        Ok(())
    }
}

struct State {
    row: Vec<Acc>,
    seen: Vec<bool>,
    delete: bool,
}
