//! The `aggregation` engine (Paimon's `AggregateMergeFunction`, 1.4).
//!
//! Each field has a function: `sequence.field` columns `last_value`, primary key columns
//! keep their value, others `fields.<f>.aggregate-function`, else
//! `fields.default-aggregate-function`, else `last_non_null_value`. Versions fold in merge
//! order; `+I`/`+U` aggregate, `-U`/`-D` retract (an error for functions that cannot,
//! unless `fields.<f>.ignore-retract`). With `aggregation.remove-record-on-delete` a `-D`
//! replaces the row by the delete's values and the result is a `-D` until the next insert.
//! The result is a `+I` otherwise.

use super::cell::Acc;
use super::functions::{Ctx, FieldAgg};
use super::{FieldValue, MergeInput, MergeResult, RowKind};
use crate::error::{Error, Result};
use crate::invalid;
use crate::options::CoreOptions;
use crate::schema::TableSchema;

/// The aggregation rules of one table.
#[derive(Debug, Clone)]
pub struct Aggregation {
    aggs: Vec<FieldAgg>,
    nullable: Vec<bool>,
    names: Vec<String>,
    remove_record_on_delete: bool,
}

impl Aggregation {
    pub(crate) fn new(schema: &TableSchema, options: &CoreOptions) -> Result<Aggregation> {
        let remove = options.aggregation_remove_record_on_delete();
        let sequence = options.sequence_fields();
        if let Some(name) = options.get("fields.default-aggregate-function") {
            super::functions::check_known(name)?;
        }
        let mut aggs = Vec::with_capacity(schema.fields.len());
        for field in &schema.fields {
            let agg = if sequence.contains(&field.name) {
                FieldAgg::new("last_value", field, options)?
            } else if schema.primary_keys.contains(&field.name) {
                FieldAgg::primary_key(field)
            } else {
                let name = options
                    .field_option(&field.name, "aggregate-function")
                    .or_else(|| options.get("fields.default-aggregate-function"))
                    .unwrap_or("last_non_null_value");
                FieldAgg::new(name, field, options)?
            };
            if remove && agg.ignore_retract {
                return Err(invalid!(
                    "options 'aggregation.remove-record-on-delete' and \
                     'fields.{}.ignore-retract' conflict; set only one",
                    field.name
                ));
            }
            aggs.push(agg);
        }
        Ok(Aggregation {
            aggs,
            nullable: schema.fields.iter().map(|f| f.data_type.nullable).collect(),
            names: schema.fields.iter().map(|f| f.name.clone()).collect(),
            remove_record_on_delete: remove,
        })
    }

    /// Whether every field can take retractions (`-U`/`-D`).
    pub fn accepts_retractions(&self) -> bool {
        self.remove_record_on_delete || self.aggs.iter().all(FieldAgg::can_retract)
    }

    /// `field (function)` of each field that cannot take a retraction.
    pub fn non_retractable_fields(&self) -> Vec<String> {
        if self.remove_record_on_delete {
            return Vec::new();
        }
        self.aggs
            .iter()
            .filter(|a| !a.can_retract())
            .map(|a| format!("{} ({})", a.field, a.name))
            .collect()
    }

    pub(crate) fn merge(&self, input: &MergeInput<'_>) -> Result<MergeResult> {
        let n = self.aggs.len();
        let mut row = vec![Acc::Null; n];
        let mut seen = vec![false; n];
        let mut delete = false;
        for v in 0..input.len() {
            let kind = input.kind(v);
            delete = self.remove_record_on_delete && kind == RowKind::Delete;
            if delete {
                for (f, slot) in row.iter_mut().enumerate() {
                    if !input.has_field(f) {
                        continue;
                    }
                    *slot = Acc::of(input, f, v);
                    if slot.is_null() && !self.nullable[f] {
                        return Err(Error::data_invalid(format!(
                            "aggregation: column '{}' is NOT NULL but a -D holds null",
                            self.names[f]
                        )));
                    }
                }
                continue;
            }
            for (f, agg) in self.aggs.iter().enumerate() {
                if !input.has_field(f) {
                    continue;
                }
                let ctx = Ctx { input, field: f };
                let value = Acc::of(input, f, v);
                let acc = std::mem::replace(&mut row[f], Acc::Null);
                row[f] = if kind.is_add() {
                    agg.agg(&ctx, acc, value, &mut seen[f])?
                } else {
                    agg.retract(&ctx, acc, value)?
                };
            }
        }
        let sequence = input.versions().last().map_or(0, |v| v.sequence);
        let fields: Vec<FieldValue> = row.into_iter().map(Acc::into_field_value).collect();
        Ok(MergeResult::Computed {
            kind: if delete {
                RowKind::Delete
            } else {
                RowKind::Insert
            },
            sequence,
            fields,
        })
    }
}
